"""cimnoise: Compute-in-memory noise: statistical estimator and Monte-Carlo crossbar simulator."""

__version__ = "0.1.0"
