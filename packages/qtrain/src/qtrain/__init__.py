"""qtrain: datasets, model zoo, float training, QAT, PTQ, k-means weight sharing and activation probing.

Library layout (each module documents its rules):

* :mod:`qtrain.data` - local dataset readers, seeded train/val/test splits, a fast batch pipeline
* :mod:`qtrain.zoo` - MLP, LeNet-5, a small CNN, MobileNetV2, ResNet-18/20 as qformat graph IR
* :mod:`qtrain.graph` - :class:`GraphNet`, the torch executor of any qformat IR (train, fold BN, write back)
* :mod:`qtrain.train` - the training loop (checkpoint every epoch, exact resume, validation selection)
* :mod:`qtrain.quant` - fake-quant QAT (LSQ/DoReFa weights, PACT activations, FP16), PTQ calibration,
  precision-map plans, k-means weight sharing with pruning (:mod:`qtrain.quant.kmeans`)
* :mod:`qtrain.export` - float and integer-only model artifacts; :mod:`qtrain.intsim` - the torch integer path
* :mod:`qtrain.probe` - activation statistics and noise propagation (``qformat.ProbeStats``)
* :mod:`qtrain.importer` - a user's ``torch.nn.Module`` into the IR (torch.fx)
* :mod:`qtrain.workflows` - the CLI commands as functions
"""

__version__ = "0.1.0"

from .graph import GraphNet  # noqa: E402
from .train import FitResult, TrainConfig, evaluate, fit  # noqa: E402

__all__ = ["GraphNet", "TrainConfig", "FitResult", "fit", "evaluate", "__version__"]
