"""The on-disk dataset formats of NVIDIA's DLRM (facts sheet section 3): writers, readers, checks.

Everything here is numpy-based and imports no torch, so ``dlrmbench dataset inspect`` and the
planner's dataset checks stay light. The torch-facing parts (batch streams, prefetching) are in
:mod:`dlrmbench.data.stream` and :mod:`dlrmbench.data.prefetch`, imported only by workers.
"""
