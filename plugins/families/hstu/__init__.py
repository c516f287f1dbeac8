"""The ``hstu`` workload family: Meta's generative recommender (HSTU), research retrieval configuration.

Faithful to the PyTorch path of meta-recsys/generative-recommenders @ db1bf8f2,
``generative_recommenders/research/`` (see docs/hstu.md for every fact and its source). Nothing is
imported here: the model, data and metrics modules import torch only when used.
"""
