"""qsearch: mixed-precision search under hardware budgets, with honest numbers.

* :mod:`qsearch.cost` - hardware cost models (sizes, peak RAM, latency tables, dual core, measured
  costs through a pipe); pure functions of the qformat graph IR, no torch.
* :mod:`qsearch.search` - DNAS (shared-weight supernet), DSE (exhaustive / binary search), sensitivity
  + ILP, Pareto fronts.
* :mod:`qsearch.runner` - whole searches: read a float model, search, fine-tune the choice, export it
  integer-only with its precision map and the ``qsearch.trials`` / ``qsearch.dnas_history`` tables.
* :mod:`qsearch.executor` - one interface for candidate evaluations: serial, local process pool, Dask.

Import what you use; importing :mod:`qsearch` itself loads nothing heavy.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
