"""Old home of the batch type and the dataset contract; both now live at the bottom of the core.

Kept so that third-party code importing ``dlrmbench.workload.data`` still works: use
:mod:`dlrmbench.batch` and :mod:`dlrmbench.plugin_api` instead.
"""

from __future__ import annotations

from dlrmbench.batch import Batch, SparseFeatures
from dlrmbench.plugin_api import BatchStream, Dataset

__all__ = ["Batch", "BatchStream", "Dataset", "SparseFeatures"]
