"""Spark pipeline: raw Criteo click logs -> dictionaries -> the `split` binary dataset.

The package shares only an on-disk format with dlrmbench (see FORMAT.md); it imports neither
dlrmbench nor torch, and nothing heavy (pyspark, numpy) is imported at import time.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
