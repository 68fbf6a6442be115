"""accelsim: cycle-accurate simulator of a k-means weight-sharing accelerator.

Modules:

* :mod:`accelsim.core` - value ids, container shares, lane layout, en_acc rule;
* :mod:`accelsim.fast` - vectorised closed-form engine (all neurons x configurations);
* :mod:`accelsim.reference` - slow cycle-stepping reference engine (and the original loops);
* :mod:`accelsim.functional` - accelerator-style outputs vs the integer dot product;
* :mod:`accelsim.analysis` - utilization and cycle ranges;
* :mod:`accelsim.trace`, :mod:`accelsim.memimage` - per-cycle traces, RTL memory images;
* :mod:`accelsim.activations` - the original's input quantizer, interleaving, stimuli;
* :mod:`accelsim.network` - models (qformat or plain matrices) to simulator layers;
* :mod:`accelsim.api` - the high-level functions returning Arrow tables; :mod:`accelsim.cli`.
"""

from .core import ORDERS, SEMANTICS, container_shares, value_ids
from .fast import LayerData, LayerGrid, simulate, simulate_layer
from .reference import step

__version__ = "0.1.0"

__all__ = ["ORDERS", "SEMANTICS", "LayerData", "LayerGrid", "__version__", "container_shares", "simulate",
           "simulate_layer", "step", "value_ids"]
