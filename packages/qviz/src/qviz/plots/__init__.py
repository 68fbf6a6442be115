"""Plot implementations, one module per artifact family; importing registers them."""

from . import accelsim, cimnoise, ibexgen, model, probe, search  # noqa: F401
