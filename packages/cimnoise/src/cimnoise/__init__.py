"""cimnoise: compute-in-memory noise — a statistical estimator and a Monte-Carlo crossbar simulator.

Layers map onto crossbars (:class:`LayerMapping`) under a :class:`CrossbarConfig`; the Monte-Carlo
simulator runs them (:meth:`LayerMapping.run`), the estimator predicts the same output-noise power in
closed form from probe statistics (:func:`estimate_mapping`). :class:`Study` and the workflow functions
(:func:`estimate`, :func:`simulate`, :func:`calibrate`, :func:`sweep`, :func:`validate`) do whole
networks, as the CLI does.
"""

__version__ = "0.1.0"

from .calibrate import Calibration, calibrate_adc, calibrate_input, resolve_ranges  # noqa: E402
from .config import CrossbarConfig, HardwareConfig  # noqa: E402
from .crossbar import Crossbar, LayerMapping, LayerRanges  # noqa: E402
from .dist import ChannelDist  # noqa: E402
from .estimator import LayerEstimate, correlation_gain, estimate_layer, estimate_mapping  # noqa: E402
from .executor import LocalPoolExecutor, SerialExecutor, make_executor  # noqa: E402
from .layers import AnalogLayer  # noqa: E402
from .network import Network, estimate_accuracy, estimate_network, simulate_network  # noqa: E402
from .probe import probe_model  # noqa: E402
from .sweep import SweepGrid  # noqa: E402
from .workflows import Study, calibrate, estimate, simulate, sweep, validate  # noqa: E402

__all__ = [
    "AnalogLayer", "Calibration", "ChannelDist", "Crossbar", "CrossbarConfig", "HardwareConfig", "LayerEstimate",
    "LayerMapping", "LayerRanges", "LocalPoolExecutor", "Network", "SerialExecutor", "Study", "SweepGrid",
    "__version__", "calibrate", "calibrate_adc", "calibrate_input", "correlation_gain", "estimate", "estimate_accuracy",
    "estimate_layer", "estimate_mapping", "estimate_network", "make_executor", "probe_model", "resolve_ranges",
    "simulate", "simulate_network", "sweep", "validate",
]
