"""Torch adapter (``pip install qformat[torch]``): state_dict <-> model artifact.

:func:`state_dict` / :func:`load_state_dict` map a model's float tensors to
``{"<layer>.weight": tensor, "<layer>.bias": tensor}`` and back, for every layer
type of the IR. Importing a whole user ``nn.Module`` (tracing it into the graph
IR) is qtrain's job: ``qtrain.importer.from_torch``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import QFormatError
from .model import Model

try:  # pragma: no cover - exercised only where torch is installed
    import torch
except ImportError as e:  # pragma: no cover
    raise ImportError("qformat.torch_adapter needs torch: pip install 'qstack-qformat[torch]'") from e


def state_dict(model: Model) -> dict[str, torch.Tensor]:
    """The model's float weights and biases as a torch state_dict."""
    out = {}
    for lay in model.compute_layers():
        out[f"{lay.name}.weight"] = torch.from_numpy(np.ascontiguousarray(model.get(lay.name, "weight"), dtype=np.float32))
        if model.has(lay.name, "bias"):
            out[f"{lay.name}.bias"] = torch.from_numpy(np.ascontiguousarray(model.get(lay.name, "bias"), dtype=np.float32))
    return out


def load_state_dict(model: Model, sd: dict[str, Any], strict: bool = True) -> Model:
    """Copy ``<layer>.weight`` / ``<layer>.bias`` tensors into the model (shapes checked)."""
    used = set()
    for lay in model.compute_layers():
        for t in ("weight", "bias"):
            key = f"{lay.name}.{t}"
            if key in sd:
                arr = sd[key].detach().cpu().numpy() if hasattr(sd[key], "detach") else np.asarray(sd[key])
                if model.has(lay.name, t) and model.get(lay.name, t).shape != arr.shape:
                    raise QFormatError("state_dict", key, f"shape {arr.shape} != {model.get(lay.name, t).shape}")
                model.set(lay.name, t, arr.astype(np.float32))
                used.add(key)
            elif strict and t == "weight":
                raise QFormatError("state_dict", key, "missing")
    extra = set(sd) - used
    if strict and extra:
        raise QFormatError("state_dict", sorted(extra)[0], "does not name a layer tensor of the model")
    return model
