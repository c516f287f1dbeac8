"""TorchRec's ``DLRM_DCN`` with FBGEMM's fused ``EXACT_ADAGRAD`` tables: the DLRMv2 peer of the CPU bench.

Built as the MLPerf reference (``mlcommons/training:recommendation_v2/torchrec_dlrm``) builds it on one
device: one ``EmbeddingBagConfig`` per feature (sum pooling), a ``FusedEmbeddingBagCollection`` that applies
``torch.optim.Adagrad`` (FBGEMM's EXACT_ADAGRAD, eps 1e-8) inside backward, ``DLRM_DCN`` with 3 cross layers
of low rank 512, ``torch.optim.Adagrad`` over the dense parameters, BCE-with-logits loss. Needs ``make torchrec``.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from dlrmbench.model.adagrad import ADAGRAD_EPS


def build_dlrm_dcn(shape: Any, lr: float) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The model and its dense Adagrad for ``shape`` (a bench ``Shape`` with hotness)."""
    from torchrec.models.dlrm import DLRM_DCN
    from torchrec.modules.fused_embedding_modules import FusedEmbeddingBagCollection

    from dlrmbench_plugins.embeddings._torchrec_impl import table_configs

    collection = FusedEmbeddingBagCollection(tables=table_configs(list(shape.table_sizes), shape.dim),
                                             optimizer_type=torch.optim.Adagrad,
                                             optimizer_kwargs={"lr": lr, "eps": ADAGRAD_EPS}, device=torch.device("cpu"))
    model = DLRM_DCN(collection, dense_in_features=13, dense_arch_layer_sizes=list(shape.bottom),
                     over_arch_layer_sizes=list(shape.top), dcn_num_layers=3, dcn_low_rank_dim=512,
                     dense_device=torch.device("cpu"))
    dense = [p for name, p in model.named_parameters() if "embedding_bag_collection" not in name]
    return model, torch.optim.Adagrad(dense, lr=lr, eps=ADAGRAD_EPS)


def dlrm_dcn_steps(shape: Any, batches: list, lr: float = 0.01) -> tuple[Any, int]:
    """A function training ``DLRM_DCN`` on batch ``i`` of ``batches`` (ids as a KJT), and the batch count."""
    from dlrmbench_plugins.embeddings._torchrec_impl import feature_key, keyed_jagged

    model, optimizer = build_dlrm_dcn(shape, lr)
    keys = [feature_key(i) for i in range(len(shape.table_sizes))]
    inputs = [(numerical, keyed_jagged(categorical, keys), label) for numerical, categorical, label in batches]
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()

    def step(i: int) -> None:
        numerical, features, label = inputs[i]
        loss = loss_fn(model(numerical, features).squeeze(1), label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, len(inputs)


def time_dlrm_dcn_training(shape: Any, batches: list, warmup: int, lr: float = 0.01) -> float:
    """Samples/s of the steps after ``warmup``, the same batches as the other contestants (ids as a KJT)."""
    step, count = dlrm_dcn_steps(shape, batches, lr)
    start = None
    for i in range(count):
        if i == warmup:
            start = time.perf_counter()
        step(i)
    elapsed = time.perf_counter() - start
    return (count - warmup) * batches[0][0].shape[0] / elapsed
