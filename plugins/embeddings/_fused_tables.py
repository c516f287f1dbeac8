"""Implementations of ``joint_sparse`` and ``joint_fused`` (imports torch; triton for joint_fused).

Both subclass :class:`JointEmbedding`: same single float32 table, same offsets, same per-feature
initialisation (so they start from the weights ``multi_table`` starts from), same id checks.
"""

from __future__ import annotations

import torch

from dlrmbench.batch import Ids, SparseFeatures
from dlrmbench.plugin_api import BuildContext

from dlrmbench_plugins.embeddings._tables import JointEmbedding


def sparse_rows_gradient(rows: torch.Tensor, grad: torch.Tensor, table_shape: torch.Size) -> torch.Tensor:
    """The uncoalesced COO gradient of a table whose ``rows`` (any shape) produced ``grad`` (rows..., D).

    Duplicated rows stay duplicated (the optimizer's sparse add sums them), as in the reference.
    """
    dim = table_shape[1]
    values = grad.reshape(-1, dim).to(torch.float32)
    return torch.sparse_coo_tensor(rows.reshape(1, -1), values, table_shape, check_invariants=False)


class _SparseGather(torch.autograd.Function):
    """``weight[rows]`` forward; backward: the uncoalesced sparse COO gradient of the table."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows: torch.Tensor):  # type: ignore[override]
        ctx.save_for_backward(rows)
        ctx.table_shape = weight.shape
        return weight.index_select(0, rows.reshape(-1)).view(*rows.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (rows,) = ctx.saved_tensors
        return sparse_rows_gradient(rows, grad, ctx.table_shape), None


def _one_hot_only(name: str, categorical: object) -> None:
    if isinstance(categorical, SparseFeatures):  # the planner refuses these cases first (multi_hot=False)
        raise ValueError(f"multi-hot is not supported by the {name} embedding strategy (one id per feature); "
                         "use joint or multi_table")


class JointSparseEmbedding(JointEmbedding):
    """The joint table with an explicit gather and a sparse backward (the reference's joint_sparse)."""

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        _one_hot_only("joint_sparse", categorical)
        rows = self.prepare_indices(categorical) + self.offsets
        return _SparseGather.apply(self.weight, rows)


class JointFusedEmbedding(JointEmbedding):
    """The joint table read by the fused Triton gather: offsets added in the kernel, output in the
    autocast dtype (float16 under AMP) or float32; sparse COO gradient."""

    def forward(self, categorical: Ids) -> torch.Tensor:
        ids = self.prepare_indices(categorical)
        if isinstance(ids, SparseFeatures):  # multi-hot: the Triton bag kernel (sum pooling, offsets in-kernel)
            from dlrmbench_plugins.kernels.bag import FusedBag

            return FusedBag.apply(self.weight, ids.values, ids.bag_offsets(), self.offsets, ids.batch_size,
                                  self.output_dtype(ids.values.device))
        from dlrmbench_plugins.kernels.gather import FusedGather

        return FusedGather.apply(self.weight, ids, self.offsets, self.output_dtype(categorical.device))

    def output_dtype(self, device: torch.device) -> torch.dtype:
        if torch.is_autocast_enabled(device.type):
            return torch.get_autocast_dtype(device.type)
        return self.weight.dtype


def build_joint_sparse(ctx: BuildContext) -> JointSparseEmbedding:
    return JointSparseEmbedding(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices,
                                ctx.options)


def build_joint_fused(ctx: BuildContext) -> JointFusedEmbedding:
    """Factory: switch Triton to its interpreter first when the options ask for CPU runs."""
    return make_joint_fused(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices, ctx.options)


def make_joint_fused(table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> JointFusedEmbedding:
    """``joint_fused`` from explicit arguments (benchmarks and tests)."""
    if getattr(options, "interpret", False):
        from dlrmbench_plugins.kernels.launch import enable_interpreter

        enable_interpreter()
    return JointFusedEmbedding(table_sizes, dim, hash_indices, options)
