"""qsearch: Mixed-precision search under hardware budgets: DNAS, DSE, sensitivity+ILP, cost models."""

__version__ = "0.1.0"
