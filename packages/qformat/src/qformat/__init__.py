"""qformat: The shared, versioned interchange format of qstack (Zarr v3 tensors, Arrow tables) and its numpy reference interpreter."""

__version__ = "0.1.0"
