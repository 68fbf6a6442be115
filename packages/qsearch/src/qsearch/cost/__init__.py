"""Hardware cost models: sizes, peak RAM, latency tables, measured costs through a pipe.

Pure functions of the qformat graph IR (no torch). Start with
:class:`~qsearch.cost.model.CostModel`::

    net = NetInfo.from_model(model)
    cm = CostModel(net, OptionSpace.parse("int8,int4,int2"), make_latency("m7"))
    cm.evaluate({name: "int8" for name in net.compute_names}).metrics()
"""

from .latency import Analytical, CoreLatency, DualCore, LatencyTable, make_latency
from .memory import MemoryConfig, MemoryReport, memory_filter, peak_ram, scratch_bytes
from .model import METRICS, CostModel, Costs, parse_bytes, parse_latency

__all__ = ["Analytical", "CoreLatency", "CostModel", "Costs", "DualCore", "LatencyTable", "METRICS", "MemoryConfig",
           "MemoryReport", "make_latency", "memory_filter", "parse_bytes", "parse_latency", "peak_ram", "scratch_bytes"]
