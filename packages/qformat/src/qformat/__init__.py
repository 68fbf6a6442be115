"""qformat: the shared, versioned interchange format of qstack.

Zarr v3 for tensors, Arrow for tables, one namespaced ``qformat`` metadata key
with the spec version, and the numpy reference interpreter every tool is
tested against. See SPEC.md (the format) and API.md (this library).
"""

from . import requant
from .bundle import Bundle
from .errors import QFormatError
from .interp import dequantize, quantize, quantize_input, run
from .ir import Layer, infer_shapes, macs, weight_shape
from .model import Model
from .precision import LayerPrecision, Precision, PrecisionMap
from .probe import ActivationStats, ProbeStats
from .spec import SPEC_VERSION, ActQuant, LayerQuant, WeightQuant
from .store import TableStreamWriter, from_bytes, open, read_bundle, save, to_bytes
from .table import Table

__version__ = "0.1.0"

__all__ = [
    "ActQuant", "ActivationStats", "Bundle", "Layer", "LayerPrecision", "LayerQuant", "Model", "Precision",
    "PrecisionMap", "ProbeStats", "QFormatError", "SPEC_VERSION", "Table", "TableStreamWriter", "WeightQuant",
    "__version__", "dequantize", "from_bytes", "infer_shapes", "macs", "open", "quantize", "quantize_input",
    "read_bundle", "requant", "run", "save", "to_bytes", "weight_shape",
]
