"""Hybrid-parallel training on torch.distributed (facts sheet section 5).

Model-parallel embeddings (each table on one rank) and bottom MLP (rank 0), data-parallel
interaction and top MLP (DDP), an all-to-all between them. ``placement``, ``memory_plan`` and
``launch`` are light (no torch); ``exchange``, ``model``, ``train`` and ``worker`` import torch.
"""
