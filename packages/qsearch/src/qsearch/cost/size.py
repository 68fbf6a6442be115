"""Sizes: weight bytes (sub-byte packed), biases, requantization parameters, flash, bit-ops.

All functions are pure arithmetic on :class:`~qsearch.netinfo.LayerInfo` and
:class:`~qsearch.options.Option`; the hand computations in the tests are the
specification.

Flash of a compute layer = packed weights + biases + requantization params:

* weights: ``ceil(weights * wbits / 8)`` bytes (fp32 4 B, fp16 2 B, int4 two per byte, int2 four);
* bias, one per output channel when the deployed layer has one: int32 (4 B)
  for integer layers, fp32 4 B, fp16 2 B;
* requantization, integer layers only: an int32 multiplier and an int32 shift
  per output channel (8 B, the CMSIS-NN layout; qformat's ``requant_multiplier``
  and ``requant_shift``);
* an integer residual ``add`` stores one multiplier and shift per input (16 B).
"""

from __future__ import annotations

from ..netinfo import LayerInfo, packed_bytes
from ..options import Option

REQUANT_BYTES_PER_CHANNEL = 8
ADD_REQUANT_BYTES = 16


def weight_bytes(li: LayerInfo, opt: Option) -> int:
    """Packed bytes of the layer's weights at the option's weight precision."""
    return packed_bytes(li.weights, opt.wbits)


def float_weight_bytes(li: LayerInfo) -> int:
    """Bytes of the weights in fp32 (the compression baseline)."""
    return 4 * li.weights


def bias_bytes(li: LayerInfo, opt: Option) -> int:
    """Bytes of the deployed bias: int32 for integer layers, the float width for float layers."""
    if not li.deployed_bias:
        return 0
    per = 2 if (opt.is_float and opt.wbits == 16) else 4
    return per * li.out_channels


def requant_bytes(li: LayerInfo, opt: Option) -> int:
    """Per-channel multiplier + shift of an integer layer (0 for float layers)."""
    return 0 if opt.is_float else REQUANT_BYTES_PER_CHANNEL * li.out_channels


def layer_flash(li: LayerInfo, opt: Option) -> int:
    """Flash bytes of one compute layer: weights + bias + requantization parameters."""
    return weight_bytes(li, opt) + bias_bytes(li, opt) + requant_bytes(li, opt)


def bitops(li: LayerInfo, opt: Option) -> int:
    """Bit-operations of one layer: MACs x weight bits x activation bits (fp32 counts 32 x 32)."""
    return int(li.macs) * opt.wbits * opt.abits


def compression(float_bytes: int, quant_bytes: int) -> float:
    """Compression ratio of the weights versus fp32 (``float_bytes / quant_bytes``)."""
    return float(float_bytes) / float(quant_bytes) if quant_bytes else float("inf")
