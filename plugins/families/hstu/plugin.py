"""Registration of the ``hstu`` family, its datasets and its optimizer (no torch here).

- family ``hstu``: the research HSTU retrieval model (config.py); metrics HR@K, NDCG@K (K = 10, 50, 200), MRR;
  FLOPs per sample from flops.py; a memory plan from named byte terms; data-parallel ranks;
- datasets ``hstu_synthetic`` (synthetic.py) and ``sasrec_csv`` (sasrec_csv.py, the reference's file);
- optimizer ``adam``: Adam or AdamW on the dense weights and, on the item table, the same or FBGEMM-style
  row-wise Adagrad (optim.py).
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat

from dlrmbench import hookimpl
from dlrmbench.memory_plan import rank_devices, terms_plan
from dlrmbench.plugin_api import DatasetFormat, FamilyConfig, FamilyMetric, PluginOptions, PluginSpec
from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.sasrec_csv import detect_folder, inspect_folder
from dlrmbench_plugins.families.hstu.streaming import StreamingConfig
from dlrmbench_plugins.families.hstu.synthetic import SyntheticSequencesConfig

KS = (10, 50, 200)
FACTORY = "dlrmbench_plugins.families.hstu._family"


class HSTUConfig(FamilyConfig, HSTUModelConfig):
    """The case's ``model:`` block: ``family: hstu`` and every field of :class:`HSTUModelConfig`."""

    family: Literal["hstu"] = "hstu"


class SasrecCsvOptions(PluginOptions):
    """The reference's preprocessed file (``tmp/<dataset>/sasrec_format.csv``)."""

    path: str = Field(description="the sasrec_format.csv, or the folder holding it (--dataset-path sets it)")
    shift_ids: int = Field(default=0, ge=0, description="added to every id (Amazon Books: 1)")
    seed: int = 0


class SyntheticOptions(SyntheticSequencesConfig, PluginOptions):
    """Synthetic sequences (synthetic.py); ``num_items`` must equal the model's."""


class StreamingOptions(StreamingConfig, PluginOptions):
    """The dlrm-v3 streaming generator (streaming.py); num_items and num_categories must equal the model's."""


class AdamOptions(PluginOptions):
    """Adam(W) on the dense weights; the item table the same or row-wise Adagrad (lr: the case's)."""

    variant: Literal["adam", "adamw"] = Field(default="adamw", description="research HSTU: adamw; DLRMv3: adam")
    betas: tuple[float, float] = (0.9, 0.98)
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0
    tables: Literal["adam", "rowwise_adagrad"] = Field(default="adam", description="the item table's optimizer")
    table_eps: PositiveFloat = 1e-8
    table_lr_scale: PositiveFloat = Field(default=1.0, description="the table's lr = the case's lr x this "
                                                                   "(the references use 1)")
    grad_clip_norm: PositiveFloat | None = Field(default=None, description="clip the dense gradients' global L2 "
                                                 "norm to this before each step (DLRMv4: 1.0; GR DLRMv3: none)")


def _mean_length(resolved: Any) -> float:
    config = resolved.case.model
    dataset = resolved.case.dataset
    if dataset.name == "hstu_synthetic":
        o = SyntheticSequencesConfig.model_validate(dataset.options or {})
        # training history = all but the last two items, capped at max_sequence_length
        return min(config.max_sequence_length, (o.min_length + o.max_length) / 2 - 2)
    return float(config.max_sequence_length)  # an upper bound for files


def flops_per_sample(config: HSTUConfig, resolved: Any) -> float | None:
    """Training FLOPs of one user at the dataset's mean training history (synthetic) or max_sequence_length;
    for the ranking model, of one request filling max_seq_len (flops.py)."""
    from dlrmbench_plugins.families.hstu.flops import ranking_training_flops_per_sample, training_flops_per_sample

    if config.task == "ranking":
        return ranking_training_flops_per_sample(config)

    return training_flops_per_sample(config, max(1, round(_mean_length(resolved))))


def memory_plan(resolved: Any, table_sizes: list[int], capacities: Any, shared: Any) -> Any:
    """Per rank (each holds the whole model): weights, gradients, optimizer state, activations of a batch."""
    c: HSTUConfig = resolved.case.model
    if c.task == "ranking":
        return _ranking_memory_plan(resolved, capacities, shared)
    d, h = c.item_embedding_dim, c.num_heads
    table = (c.num_items + 1) * d * 4
    layer = d * (2 * h * c.dv + 2 * h * c.dqk) + (h * c.dv * (3 if c.concat_ua else 1) + 1) * d + 3 * c.padded_length
    dense = (c.num_blocks * layer + c.padded_length * d) * 4
    batch = max(1, resolved.case.batch_size // resolved.world_size)
    length = c.max_sequence_length
    tokens = batch * length
    scores = batch * h * length * length * 4 * (3 if c.attention == "pytorch" else 1)
    per_layer = tokens * (2 * h * (c.dv + c.dqk) + 4 * d) * 4
    activations = c.num_blocks * (per_layer + scores) + tokens * c.num_negatives * (d + 2) * 4 * 2
    terms = {"item table": table, "dense weights": dense, "gradients": table + dense,
             "optimizer state": 2 * (table + dense), "activations": activations}
    return terms_plan([dict(terms) for _ in range(resolved.world_size)], rank_devices(resolved), capacities, shared)


def _ranking_memory_plan(resolved: Any, capacities: Any, shared: Any) -> Any:
    """The ranking model per rank: its three tables, the STU layers (materialised (B, H, N, N) scores of a full
    max_seq_len batch, x3 for backward), weights' gradients and Adam state (an estimate from named terms)."""
    c: HSTUConfig = resolved.case.model
    r, d, h = c.ranking, c.item_embedding_dim, c.num_heads
    tables = (c.num_items + r.num_categories + r.num_users) * r.embedding_dim * 4
    layer = d * (2 * h * c.dv + 2 * h * c.dqk) + 3 * h * c.dv * d
    mlps = 4 * (r.embedding_dim * r.preprocessor_hidden_dim + r.preprocessor_hidden_dim * d) + d * r.head_hidden_dim
    dense = (c.num_blocks * layer + mlps + (r.num_position_buckets + r.num_time_buckets) * d) * 4
    batch = max(1, resolved.case.batch_size // resolved.world_size)
    n = r.max_seq_len
    activations = c.num_blocks * batch * (h * n * n * 4 * 3 + n * (2 * h * (c.dv + c.dqk) + 3 * h * c.dv + d) * 4)
    terms = {"tables": tables, "dense weights": dense, "gradients": tables + dense,
             "optimizer state": 2 * dense + tables, "activations": activations}
    return terms_plan([dict(terms) for _ in range(resolved.world_size)], rank_devices(resolved), capacities, shared)


def _metrics(config: Any = None) -> tuple[FamilyMetric, ...]:
    """Retrieval: HR@K, NDCG@K, MRR; ranking (``task: ranking``): NE, accuracy, AUC and GAUC of each task."""
    if config is not None and getattr(config, "task", "retrieval") == "ranking":
        ranked = []
        for t in config.ranking.tasks:
            ranked += [FamilyMetric(f"ne_{t.name}", "", False, f"normalized entropy of task {t.name}"),
                       FamilyMetric(f"accuracy_{t.name}", "", True, f"share of {t.name} predictions right at 0.5"),
                       FamilyMetric(f"auc_{t.name}", "", True, f"AUC of task {t.name} over all candidates"),
                       FamilyMetric(f"gauc_{t.name}", "", True, f"AUC of task {t.name} per request, averaged "
                                    "(DLRMv3's 'AUC')")]
        return tuple(ranked)
    out = []
    for k in KS:
        out.append(FamilyMetric(f"hr_at_{k}", "", True, f"share of users whose held-out item ranks in the top {k}"))
        out.append(FamilyMetric(f"ndcg_at_{k}", "", True, f"NDCG@{k} of the held-out item"))
    out.append(FamilyMetric("mrr", "", True, "mean reciprocal rank of the held-out item"))
    return tuple(out)


def _target_metric(config: Any) -> str:
    if getattr(config, "task", "retrieval") == "ranking":
        return f"auc_{config.ranking.tasks[0].name}"
    return "hr_at_10"


@hookimpl
def register_families(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(
        kind="family", name="hstu", options=HSTUConfig,
        summary="HSTU (generative recommender): research retrieval (sampled softmax, HR/NDCG@K) or DLRMv3 "
                "multitask ranking (task: ranking; NE/AUC per task)",
        factory=f"{FACTORY}:build_family", uses=(), metrics=_metrics, target_metric=_target_metric,
        flops_per_sample=flops_per_sample, memory_plan=memory_plan, default_topology="data_parallel",
        verify=f"{FACTORY}:family_rows", defaults={"dataset": "hstu_synthetic", "optimizer": "adam"},
        serving=True,  # HSTUFamily.serving: top-K retrieval over jagged inputs (serving.py)
    ))


def _synthetic_sizes(options: Any, case: Any) -> list[int]:
    return [options.num_items + 1]


def _synthetic_scale_down(options: dict[str, Any], rows: int, samples: tuple[int, int]) -> dict[str, Any]:
    """--scale-down: as many users as the scaled-down training steps read (the items stay: model.num_items)."""
    return {**options, "num_users": max(8, min(options.get("num_users", 2048), samples[0]))}


def _streaming_sizes(options: Any, case: Any) -> list[int]:
    return [options.num_items, options.num_categories, options.num_users]


def _streaming_scale_down(options: dict[str, Any], rows: int, samples: tuple[int, int]) -> dict[str, Any]:
    """--scale-down: at most 256 users (the catalogue, categories and timestamps stay: the model's sizes)."""
    return {**options, "num_users": max(16, min(options.get("num_users", 5_000_000), 256))}


@hookimpl
def register_datasets(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(
        kind="dataset", name="hstu_synthetic", options=SyntheticOptions, families=("hstu",),
        summary="user sequences over drifting item clusters (a planted signal HR@10 can find)",
        factory=f"{FACTORY}:build_synthetic", auc_comparable=False, table_sizes=_synthetic_sizes,
        scale_down=_synthetic_scale_down,
    ))
    register(PluginSpec(
        kind="dataset", name="dlrmv3_streaming", options=StreamingOptions, families=("hstu",),
        summary="MLPerf dlrm-v3 streaming synthetic requests (users, items, categories over timestamps)",
        factory=f"{FACTORY}:build_streaming", auc_comparable=False, table_sizes=_streaming_sizes,
        scale_down=_streaming_scale_down,
    ))
    register(PluginSpec(
        kind="dataset", name="sasrec_csv", options=SasrecCsvOptions, families=("hstu",),
        summary="the reference's preprocessed MovieLens / Amazon Books sasrec_format.csv, leave-one-out split",
        factory=f"{FACTORY}:build_sasrec_csv", auc_comparable=False,
        format=DatasetFormat(detect=detect_folder, table_sizes=lambda path: None, inspect=inspect_folder),
    ))


@hookimpl
def register_optimizers(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(
        kind="optimizer", name="adam", options=AdamOptions, state_bytes_per_parameter=8.0,
        summary="Adam/AdamW (dense; research HSTU, DLRMv3) with the table on Adam or row-wise Adagrad",
        factory=f"{FACTORY}:AdamPlugin", families=("hstu",),
    ))


__all__ = ["HSTUConfig"]
