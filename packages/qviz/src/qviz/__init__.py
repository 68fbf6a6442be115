"""qviz: Plots and HTML reports of every qstack artifact."""

__version__ = "0.1.0"
