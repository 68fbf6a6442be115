"""qtrain: Datasets, model zoo, float training, QAT, PTQ and activation probing."""

__version__ = "0.1.0"
