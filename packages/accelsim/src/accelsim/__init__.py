"""accelsim: Cycle-accurate simulator of a k-means weight-sharing accelerator."""

__version__ = "0.1.0"
