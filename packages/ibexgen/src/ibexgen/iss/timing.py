"""Ibex timing model: the one place that says how many cycles an instruction takes.

Ibex (2-stage pipeline, no writeback stage, no branch-target ALU, single-cycle
memory as in the simple system) retires one instruction per cycle plus stall
cycles (Ibex user manual, "Pipeline Details"):

=============================  =========================================
instruction                    cycles
=============================  =========================================
ALU, LUI/AUIPC, CSR, FENCE     1
branch not taken               1
branch taken                   1 + ``branch_taken_stall`` (2)
JAL, JALR (and c.j/c.jr/...)   1 + ``jump_stall`` (1)
load, store                    1 + ``mem_stall`` (1); + ``misaligned_stall``
                               (1) when the access crosses a word boundary
                               (Ibex splits it into two bus transactions)
MUL                            1 + 0 (single-cycle), 2 (fast), clog2(rs2) (slow)
MULH, MULHSU, MULHU            1 + 1 (single-cycle), 3 (fast), 32 (slow)
DIV, DIVU, REM, REMU           ``div_cycles`` (37); ``div_zero_cycles`` (2) when
                               the divisor is zero
FENCE.I                        1 + ``jump_stall`` (prefetch flush)
MRET                           1 + ``jump_stall``
WFI                            1 + the cycles slept until the interrupt
compat neur_init, nn_mac       ``custom_cycles`` (1; back-to-back, no stall)
compat neur_res                ``neur_res_cycles`` (8: 7 stalls waiting for
                               the multi-pumped output unit)
xmpq xm.init/xm.mac/xm.get     ``custom_cycles`` (1)
xmpq xm.rq                     ``xm_rq_cycles`` (2: one 32x32 product on the
                               shared multiplier, like MULH single-cycle)
=============================  =========================================

Not modelled: instruction-fetch stalls (the prefetch buffer keeps up with a
single-cycle RAM except right after a jump, which ``jump_stall`` and
``branch_taken_stall`` already cover), and a 32-bit instruction straddling a
word boundary after a taken jump (real Ibex may need one more fetch cycle).
Both engines (``refsim`` and the C engine) take their numbers from a
:class:`Timing` object; nothing else in the package hard-codes a cycle count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MULTIPLIERS = ("single", "fast", "slow")


@dataclass(frozen=True)
class Timing:
    """Stall/latency parameters of the Ibex configuration being modelled."""

    multiplier: str = "single"  # RV32MSingleCycle, as in the original's reported numbers
    mem_stall: int = 1
    misaligned_stall: int = 1
    branch_taken_stall: int = 2
    jump_stall: int = 1
    div_cycles: int = 37
    div_zero_cycles: int = 2
    custom_cycles: int = 1
    neur_res_cycles: int = 8
    xm_rq_cycles: int = 2

    def __post_init__(self) -> None:
        if self.multiplier not in MULTIPLIERS:
            raise ValueError(f"multiplier must be one of {', '.join(MULTIPLIERS)}, got {self.multiplier!r}")
        for k, v in asdict(self).items():
            if k != "multiplier" and (not isinstance(v, int) or v < 0):
                raise ValueError(f"timing parameter {k} must be a non-negative integer, got {v!r}")

    def mul_cycles(self, op: str, rs2_value: int) -> int:
        """Cycles of a multiply; ``rs2_value`` only matters for the slow multiplier."""
        high = op != "mul"
        if self.multiplier == "single":
            return 2 if high else 1
        if self.multiplier == "fast":
            return 4 if high else 3
        if high:
            return 33
        b = rs2_value & 0xFFFFFFFF
        return 1 + ((b - 1).bit_length() if b > 1 else 0)  # 1 + clog2(b)

    def div_cost(self, divisor: int) -> int:
        return self.div_zero_cycles if (divisor & 0xFFFFFFFF) == 0 else self.div_cycles

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_TIMING = Timing()
