"""ibexgen: C code generation for Ibex RV32IMC (with mixed-precision instructions) and an instruction-set simulator."""

__version__ = "0.1.0"
