"""Pydantic models of a suite and of one fully resolved case.

Every model forbids unknown keys. Defaults follow NVIDIA's single-GPU DLRM (main.py, 2020;
see reference/nvidia-dlrm-facts.md sections 1 and 2); every deviation is a named option.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationInfo, field_validator, model_validator,
)

from dlrmbench.allocators import ALLOCATORS, DEFAULT_ALLOCATOR
from dlrmbench.devices import DEVICES
from dlrmbench.precisions import PRECISIONS
from dlrmbench.safe_names import check_safe_name


Mode = Literal["train", "test", "inference", "serve"]


def _one_of(table: dict[str, Any], what: str) -> Any:
    """A validator accepting the keys of a vocabulary table as it is when a case is validated (a new row
    needs no schema edit)."""

    def check(value: str) -> str:
        if value not in table:
            from dlrmbench.errors import did_you_mean

            choices = list(table)
            raise ValueError(f"unknown {what} {value!r}{did_you_mean(value, choices)}; "
                             f"choose one of: {', '.join(repr(c) for c in choices)}")
        return value

    return AfterValidator(check)


Precision = Annotated[str, _one_of(PRECISIONS, "precision")]  # the rows of dlrmbench.precisions
Device = Annotated[str, _one_of(DEVICES, "device")]  # the rows of dlrmbench.devices
AllocatorName = Annotated[str, _one_of(ALLOCATORS, "allocator")]  # the rows of dlrmbench.allocators


class Strict(BaseModel):
    """Base: unknown keys are errors, values are re-validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PluginRef(Strict):
    """A chosen plugin and its options; ``backend: eager`` is short for ``{name: eager}``."""

    name: str = Field(min_length=1, description="registered plugin name")
    options: dict[str, Any] = Field(default_factory=dict, description="validated by the plugin's Options model")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


DEFAULT_FAMILY = "dlrm"
"""The family of a case whose ``model:`` block names none (every suite written before families existed)."""

DEFAULT_PLUGINS: dict[str, str] = {"backend": "eager", "embedding": "joint", "interaction": "dot",
                                   "dataset": "synthetic", "optimizer": "sgd"}
"""The plugin of each kind a case of the default family runs when its suite names none (NVIDIA's
single-GPU DLRM). A family's spec declares its own (``PluginSpec.defaults``)."""


class ModelConfig(Strict):
    """The DLRM architecture (defaults: NVIDIA's 13-512-256-128 / 1024-1024-512-256-1, dim 128): the model
    configuration of the default family."""

    family: Literal["dlrm"] = Field(default="dlrm", description="the workload family (dlrm: DLRM and DLRMv2)")
    num_numerical: PositiveInt = 13
    bottom_mlp: list[PositiveInt] = Field(default=[512, 256, 128], min_length=1)
    top_mlp: list[PositiveInt] = Field(default=[1024, 1024, 512, 256, 1], min_length=1)
    embedding_dim: PositiveInt = 128
    interaction: PluginRef = Field(
        default_factory=lambda: PluginRef(name=DEFAULT_PLUGINS["interaction"]),
        description="interaction plugin (dot, cat, or one a plugin registers); `interaction: dot` is short for "
        "{name: dot}",
    )
    table_sizes: list[PositiveInt] | None = Field(
        default=None,
        description="rows per categorical table, or a preset name (criteo_fl15, criteo_fl3: "
        "dlrmbench/config/presets.py); None takes them from the dataset",
    )
    mlp_init: Literal["auto", "nvidia", "torch"] = Field(
        default="auto", description="how the bottom and top MLPs are initialised: nvidia (weights N(0, 2/(fan_in+"
        "fan_out)), biases N(0, 1/fan_out): NVIDIA's 2020 DLRM), torch (PyTorch's nn.Linear default, weights and "
        "biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the MLPerf DLRMv2 reference); auto: the interaction plugin's "
        "default (dcnv2: torch, dot and cat: nvidia), written out when the case is resolved")
    hash_indices: bool = Field(default=False, description="ids modulo the table size before lookup")
    max_table_size: PositiveInt | None = Field(default=None, description="clip table sizes (needs hash_indices)")

    @field_validator("table_sizes", mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            from dlrmbench.config.presets import table_size_preset

            return table_size_preset(value)
        return value

    # Field validators (not one model validator) so that an error is located at the field itself,
    # e.g. ``cases[0].model.embedding_dim``; pydantic validates fields in declaration order.
    @field_validator("top_mlp")
    @classmethod
    def _ends_in_logit(cls, value: list[int]) -> list[int]:
        if value and value[-1] != 1:
            raise ValueError(f"top_mlp must end with 1 output (the click logit), not {value[-1]}")
        return value

    @field_validator("embedding_dim")
    @classmethod
    def _dim_matches_bottom(cls, value: int, info: ValidationInfo) -> int:
        bottom = info.data.get("bottom_mlp")
        if bottom and value != bottom[-1]:
            raise ValueError(
                f"embedding_dim ({value}) must equal the last bottom_mlp width ({bottom[-1]}): "
                "the interaction stacks them as vectors of one size"
            )
        return value

    @field_validator("max_table_size")
    @classmethod
    def _clip_needs_hashing(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("hash_indices", False):
            raise ValueError(
                "max_table_size needs hash_indices: true (ids above the clipped size must be folded into range)"
            )
        return value


class OpenModelConfig(BaseModel):
    """The ``model:`` block of a family other than the default one, as written: the family's own
    configuration model validates it when the case is resolved (:func:`dlrmbench.resolved.resolve_plugins`),
    and the resolved case carries the validated one."""

    model_config = ConfigDict(extra="allow")

    family: str = Field(min_length=1)


def _model_block(value: Any) -> Any:
    """``model:`` as the default family's :class:`ModelConfig`, another family's validated configuration (a
    model instance, kept), or another family's block as written (:class:`OpenModelConfig`)."""
    if isinstance(value, BaseModel):
        return value
    if value is None:
        return ModelConfig()
    if isinstance(value, dict) and value.get("family", DEFAULT_FAMILY) != DEFAULT_FAMILY:
        if not isinstance(value["family"], str):
            raise ValueError(f"model.family must be a family name, not {value['family']!r}")
        return OpenModelConfig.model_validate(value)
    return ModelConfig.model_validate(value)


ModelBlock = Annotated[Any, BeforeValidator(_model_block)]
"""A case's ``model:`` block: its family's model configuration (``family: dlrm`` when none is named)."""


class OptimizerConfig(Strict):
    """The optimizer plugin (default: SGD) with NVIDIA's warm-up and polynomial decay (facts sheet 2.2).

    The schedule fields apply to every optimizer; ``name`` picks the optimizer plugin and ``options``
    are validated by its Options model.
    """

    name: str = Field(default=DEFAULT_PLUGINS["optimizer"], min_length=1,
                      description="optimizer plugin (dlrmbench list-plugins)")
    options: dict[str, Any] = Field(default_factory=dict, description="validated by the optimizer's Options model")
    lr: PositiveFloat = 28.0
    warmup_steps: int = Field(default=6400, ge=0)
    warmup_factor: int = Field(default=0, ge=0)
    decay_start_step: int | None = Field(default=64000, ge=0)
    decay_steps: int = Field(
        default=80000, ge=0,
        description="0 disables the decay (deviation: NVIDIA's multi-GPU scheduler would drop to decay_end_lr)",
    )
    decay_power: float = Field(default=2.0, gt=0)
    decay_end_lr: float = Field(default=0.0, ge=0)
    lr_policy: Literal["multi_gpu", "single_gpu_2020"] = Field(
        default="multi_gpu", description="multi_gpu: LearningRateScheduler; single_gpu_2020: lr_step quirks"
    )
    loss_scale: PositiveFloat = Field(default=1024.0, description="static loss scale for amp (reference: 1024)")
    amp_scaler: Literal["static", "dynamic"] = Field(default="static", description="dynamic = torch GradScaler")

    @model_validator(mode="after")
    def _schedule(self) -> "OptimizerConfig":
        start = self.warmup_steps if self.decay_start_step is None else self.decay_start_step
        if start < self.warmup_steps:
            raise ValueError(
                f"decay_start_step ({start}) must not be before the end of warm-up ({self.warmup_steps})"
            )
        return self


class InferenceConfig(Strict):
    """The inference benchmark: one measurement per batch size (reference: 1, 64, 4096 x 200 steps)."""

    batch_sizes: list[PositiveInt] = Field(default=[1, 64, 4096], min_length=1)
    steps: PositiveInt = 200
    warmup_steps: int = Field(default=10, ge=0)
    cuda_graphs: bool = False


Scenario = Literal["offline", "server", "single_stream", "multi_stream"]
#: Serving targets that run the served modules in PyTorch in the worker (LoadGen only; any serving precision).
PYTORCH_TARGETS = ("pytorch", "pytorch_compiled")
#: The exported format each local serving target runs.
TARGET_FORMATS = {"onnxruntime": "onnx", "torchscript": "torchscript"}


class LoadgenConfig(Strict):
    """LoadGen's test settings for a ``serve.scenario`` case. Unset fields take the reference's defaults for
    ``model`` from LoadGen's own built-in ``mlperf.conf`` (``TestSettings.FromConfig``), then LoadGen's."""

    model: str = Field(default="dlrm-v2", min_length=1,
                       description="the mlperf.conf model whose defaults apply (dlrm-v2: Server p99 <= 60 ms)")
    mode: Literal["performance", "accuracy"] = Field(
        default="performance", description="performance (PerformanceOnly) | accuracy (AccuracyOnly: every sample "
        "once, AUC checked against the fp32 eager model)")
    target_qps: PositiveFloat | None = Field(default=None, description="server: Poisson arrival rate; offline: "
                                                                       "expected samples/s (sizes the one query)")
    target_latency_ms: PositiveFloat | None = Field(
        default=None, description="server: the latency bound; single_stream / multi_stream: the expected latency")
    latency_percentile: float | None = Field(default=None, gt=0, lt=100, description="percent, e.g. 99")
    min_duration_ms: PositiveInt | None = None
    max_duration_ms: PositiveInt | None = None
    min_query_count: PositiveInt | None = None
    max_query_count: PositiveInt | None = None
    samples_per_query: PositiveInt | None = Field(default=None, description="multi_stream (reference: 8)")
    performance_sample_count: PositiveInt | None = Field(
        default=None, description="samples LoadGen loads for performance runs (None: the reference's, capped at "
        "serve.samples)")
    qsl_rng_seed: int | None = Field(default=None, ge=0, description="None: mlperf.conf's fixed seed")
    sample_index_rng_seed: int | None = Field(default=None, ge=0)
    schedule_rng_seed: int | None = Field(default=None, ge=0)


class BatcherConfig(Strict):
    """How issued samples become model calls: the reference's ``--max-batchsize`` and worker threads,
    plus a maximum wait for more samples before a partial batch runs."""

    max_batch_size: PositiveInt = Field(default=2048, description="QSL samples per model call at most")
    max_wait_ms: float = Field(default=1.0, ge=0, le=10_000, description="wait for more samples this long "
                                                                        "before running a partial batch")
    workers: Annotated[int, Field(ge=1, le=64)] = Field(default=1, description="threads calling the model")


class SearchConfig(Strict):
    """Server: find the highest target QPS whose run is VALID by a bounded binary search over LoadGen runs."""

    lower_qps: PositiveFloat = Field(description="a rate expected to pass")
    upper_qps: PositiveFloat = Field(description="a rate expected to fail")
    max_runs: Annotated[int, Field(ge=2, le=30)] = Field(default=6, description="LoadGen runs at most")
    tolerance: float = Field(default=0.05, gt=0, lt=1, description="stop when (high - low) / low is below this")

    @model_validator(mode="after")
    def _ordered(self) -> "SearchConfig":
        if self.upper_qps <= self.lower_qps:
            raise ValueError(f"upper_qps {self.upper_qps} must be above lower_qps {self.lower_qps}")
        return self


class ServeConfig(Strict):
    """The serving benchmark (``mode: serve``): the case's model is exported (ONNX, TorchScript) and
    served, perf_analyzer-style, to closed-loop clients over batch size x concurrency.

    ``onnxruntime`` and ``torchscript`` run the export in the worker on the CPU; ``triton`` measures a
    model already loaded on a running Triton server (the export goes to ``export_to`` when given, to be
    mounted as the server's model repository).
    """

    target: Literal["onnxruntime", "torchscript", "triton", "pytorch", "pytorch_compiled"] = Field(
        default="onnxruntime", description="onnxruntime | torchscript (in the worker, CPU) | triton (a server) | "
        "pytorch | pytorch_compiled (the served modules in PyTorch, eager or torch.compile; with scenario only)")
    scenario: Scenario | None = Field(
        default=None, description="serve under MLPerf LoadGen in this scenario (the serve extra); None: the "
        "closed-loop clients")
    loadgen: LoadgenConfig = Field(default_factory=LoadgenConfig)
    batcher: BatcherConfig = Field(default_factory=BatcherConfig)
    search: SearchConfig | None = Field(default=None, description="server: search the highest VALID target QPS")
    samples: PositiveInt = Field(default=1024, description="LoadGen's query sample library: samples from the test split")
    aggregation: Literal["fixed", "dlrmv2"] = Field(
        default="fixed", description="data rows per sample: fixed (rows_per_sample) | dlrmv2 (the reference's "
        "100-700 rows drawn from its quantiles)")
    rows_per_sample: PositiveInt = Field(default=1, description="aggregation fixed: data rows per sample")
    precision: Literal["fp32", "bf16", "int8"] = Field(
        default="fp32", description="serving precision (pytorch targets, and the torchscript / onnxruntime exports): "
        "bf16 only where the CPU has it natively; int8 = dynamically quantised MLPs + row-wise quantised tables")
    table_bits: Literal[8, 4] = Field(default=8, description="int8: bits per table entry (row-wise quantised)")
    short: bool = Field(default=False, description="seconds-long LoadGen runs (--short): not valid for submission")
    batch_sizes: list[PositiveInt] = Field(default=[1, 64, 2048], min_length=1, description="samples per request")
    concurrency: list[Annotated[int, Field(ge=1, le=256)]] = Field(
        default=[1, 2, 4], min_length=1, description="closed-loop clients sending requests at once")
    duration_s: float = Field(default=2.0, ge=0.05, le=3600, description="seconds measured per cell")
    warmup: int = Field(default=5, ge=0, description="untimed requests per client before each cell")
    threads: PositiveInt | None = Field(default=None, description="onnxruntime intra-op threads (None: all cores)")
    check: bool = Field(default=True, description="refuse to measure an export that differs from the eager model "
                                                  "(dlrmbench export --check)")
    split: Literal["auto", "always", "never"] = Field(
        default="auto", description="serve the tables as their own model (as dlrmbench export --split)")
    export_to: str | None = Field(default=None, min_length=1,
                                  description="keep the export in this folder ({case} = case name); replaced")
    url: str = Field(default="localhost:8000", min_length=1, description="triton: the server (HTTP 8000, gRPC 8001)")
    protocol: Literal["http", "grpc"] = "http"
    model: str | None = Field(default=None, min_length=1, description="triton: the served model's name (None: the export's ONNX "
                                                                      "model, dlrm)")

    @field_validator("batch_sizes", "concurrency")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"{value} repeats a value; list each once")
        return value

    @model_validator(mode="after")
    def _loadgen_fields(self) -> "ServeConfig":
        if self.scenario is None:
            if self.target in PYTORCH_TARGETS:
                raise ValueError(f"target {self.target} serves under LoadGen only; set serve.scenario (offline, "
                                 "server, single_stream or multi_stream) or use onnxruntime / torchscript")
            lg = ("loadgen", "batcher", "search", "samples", "aggregation", "rows_per_sample")
            given = [f for f in lg  # set to other than the default (a dumped case repeats every default)
                     if getattr(self, f) != type(self).model_fields[f].get_default(call_default_factory=True)]
            if given:
                raise ValueError(f"{', '.join(given)} only apply under LoadGen; set serve.scenario")
        if self.search is not None and self.scenario != "server":
            raise ValueError(f"search finds a Server QPS (this case has scenario {self.scenario}); set scenario: "
                             "server or drop search")
        if self.precision != "fp32" and self.target == "triton":
            raise ValueError(f"precision {self.precision}: a triton target serves what its server loaded; export that "
                             f"model with dlrmbench export --precision {self.precision}, or set precision: fp32")
        return self


class DistributedConfig(Strict):
    """Hybrid-parallel runs (``gpus`` or ``processes`` above 1; facts sheet section 5)."""

    init: Literal["auto", "replicate", "sharded"] = Field(
        default="auto",
        description="replicate: every rank builds the full single-process model and keeps its part (weights "
        "identical to a 1-process run of the same seed); sharded: each rank initialises only its own tables "
        "(needed when all tables do not fit in one host's memory); auto: replicate up to 2 GiB of tables",
    )
    timeout_s: PositiveFloat = Field(
        default=120.0, description="process-group timeout: a collective waiting longer than this fails the case"
    )
    memory_fraction: float = Field(
        default=0.9, gt=0, le=1,
        description="share of each device's memory the memory planner may fill (the rest: CUDA context, "
        "allocator fragmentation, the dataset)",
    )
    oversubscribe: bool = Field(
        default=False, description="allow more CPU processes than CPU cores (device: cpu); otherwise a skip"
    )
    topology: str | None = Field(
        default=None, min_length=1,
        description="the topology plugin of a multi-process case (dlrmbench list-plugins); None: the family's "
        "default (dlrm: dlrmbench's hybrid parallel). dlrmbench: tables placed by its planner, its all-to-all, "
        "DDP top; torchrec_dmp: TorchRec's DistributedModelParallel (EmbeddingShardingPlanner over the world "
        "size, sharded fused tables, DDP around the dense parts; needs embedding torchrec_fused, make torchrec); "
        "data_parallel: every rank holds the whole model and its slice of each batch (DDP), for any family",
    )
    read: Literal["share", "global"] = Field(
        default="share",
        description="share: each rank reads only its share of every global batch (its rows; on dlrmbench's hybrid "
        "layout its tables' ids of every row and, on the bottom MLP's rank, the dense features), where the "
        "dataset can (binary, split, memmap, mlperf_npy, synthetic); global: every rank reads the whole global "
        "batch and keeps its share (what dlrmbench did before; the same batches, W times the host reading)",
    )
    pipeline: Literal["auto", "sparse_dist", "thread", "off"] = Field(
        default="auto",
        description="input pipelining. thread: each rank's next training batches are read, converted and cut to "
        "its share on a background thread while the current step computes (as the references prefetch their "
        "input; the file readers' own prefetch option does this for them already); sparse_dist (topology "
        "torchrec_dmp only): that read ahead, and the steps run through TorchRec's TrainPipelineSparseDist (as the "
        "MLPerf DLRMv2 reference trains): the next batch's input all-to-all and the copy to the device of the one "
        "after overlap the current step; off: read in the step, one step after the other; auto: sparse_dist on "
        "torchrec_dmp, thread elsewhere. The result records the one that ran (telemetry.input.pipeline). "
        "true and false (the old switch) mean auto and off",
    )
    torchrec_sharding: Literal["table_wise", "column_wise"] | None = Field(
        default=None,
        description="topology torchrec_dmp: the one sharding type the planner may use for every table (default: "
        "the planner picks each table's type from the model-parallel ones offered on the device); TorchRec 1.8 offers row_wise, table_row_wise and grid_shard on CUDA only, and its "
        "data_parallel tables do not train as one process does here (not offered)",
    )

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline_switch(cls, value: Any) -> Any:
        """The old on/off switch: true is auto, false is off."""
        if isinstance(value, bool):
            return "auto" if value else "off"
        return value

    @model_validator(mode="after")
    def _sharding_needs_dmp(self) -> "DistributedConfig":
        if self.torchrec_sharding is not None and self.topology != "torchrec_dmp":  # noqa: the option's own topology
            raise ValueError("distributed.torchrec_sharding applies to distributed.topology: torchrec_dmp only "
                             "(set the topology, or drop torchrec_sharding)")
        if self.pipeline == "sparse_dist" and self.topology != "torchrec_dmp":  # noqa: the option's own topology
            raise ValueError("distributed.pipeline sparse_dist (TorchRec's TrainPipelineSparseDist) applies to "
                             "distributed.topology: torchrec_dmp only (set the topology, or pipeline: auto, thread or off)")
        return self


class CheckpointConfig(Strict):
    """Where a case saves its trained weights and/or loads weights from (safe tensor-only files).

    ``{case}`` in a path is replaced by the case name, so matrix cases do not overwrite each other.
    Relative paths are relative to the directory dlrmbench is run from.
    """

    save: str | None = Field(default=None, min_length=1, description="write the model here after training")
    load: str | None = Field(default=None, min_length=1, description="start from (test: evaluate) this checkpoint")

    @model_validator(mode="after")
    def _something(self) -> "CheckpointConfig":
        if self.save is None and self.load is None:
            raise ValueError("give checkpoint.save, checkpoint.load or both (or drop the checkpoint key)")
        return self


class MlperfLogConfig(Strict):
    """``:::MLLOG`` lines for the MLPerf Training ``dlrm`` benchmark (rulesets 0.7.0 to 2.1.0).

    ``closed`` needs the reference layer counts (3 bottom, 5 top layers: the checker wants exactly
    those ``weights_initialization`` tensors) and an AUC >= 0.8025 to pass; ``open`` only checks
    that every ``eval_accuracy`` is below 1.0.
    """

    path: str = Field(min_length=1, description="log file ({case} = case name); overwritten")
    benchmark: Literal["dlrm", "dlrm_dcnv2"] = Field(
        default="dlrm", description="dlrm: the SGD DLRM (rulesets 0.7.0-2.1.0); dlrm_dcnv2: MLPerf DLRMv2 "
                                    "(rulesets 3.0.0-6.0.0; needs optimizer.name adagrad)")
    division: Literal["open", "closed"] = "open"
    org: str = Field(default="dlrmbench", min_length=1, description="submission_org")
    platform: str = Field(default="unspecified", min_length=1, description="submission_platform (system name)")
    status: Literal["cloud", "onprem", "preview", "research"] = Field(
        default="research", description="submission_status"
    )


class TelemetryConfig(Strict):
    """The sampler that runs in the parent around each case (NVML per GPU, host CPU and memory)."""

    enabled: bool = True
    interval_ms: PositiveInt = Field(default=100, ge=10, description="sampling period in milliseconds")
    max_points: PositiveInt = Field(
        default=2000, ge=10, description="timeline points kept in the result (longer runs are averaged down)"
    )


class Reference(Strict):
    """Published numbers a case is compared against, with their source."""

    throughput: PositiveFloat | None = Field(default=None, description="training samples/s")
    auc: float | None = Field(default=None, ge=0, le=1)
    time_to_train_min: PositiveFloat | None = None
    inference_throughput: dict[PositiveInt, PositiveFloat] | None = Field(
        default=None, description="inference samples/s per batch size (inference benchmark tables)"
    )
    serving_throughput: PositiveFloat | None = Field(
        default=None, description="MLPerf Inference result: Offline samples/s or Server completed samples/s (LoadGen)")
    source: str = Field(min_length=1, description="where the numbers come from (README commit, table)")
    system: str | None = None


class Case(Strict):
    """One fully resolved benchmark case: everything a worker needs, nothing it must guess."""

    name: str = Field(min_length=1)
    mode: Mode = "train"
    device: Device = "cuda"
    gpus: PositiveInt = Field(default=1, description="GPUs (device: cuda)")
    processes: PositiveInt = Field(default=1, description="worker processes (device: cpu, gloo)")
    threads: PositiveInt | None = Field(
        default=None, description="torch intra-op threads in each worker process (torch.set_num_threads); "
        "default: torch's own choice (one per core; torchrun's ranks: 1). Recorded with the result; `run` warns "
        "when threads x processes exceed the CPU cores")
    precision: Precision = "fp32"
    backend: PluginRef = Field(default_factory=lambda: PluginRef(name=DEFAULT_PLUGINS["backend"]))
    embedding: PluginRef = Field(default_factory=lambda: PluginRef(name=DEFAULT_PLUGINS["embedding"]))
    dataset: PluginRef = Field(default_factory=lambda: PluginRef(name=DEFAULT_PLUGINS["dataset"]))
    batch_size: PositiveInt = 32768
    test_batch_size: PositiveInt | None = None
    epochs: PositiveFloat = 1.0
    max_steps: PositiveInt | None = Field(default=None, description="stop training after this many steps")
    benchmark_warmup_steps: int = Field(default=0, ge=0, description="steps excluded from throughput")
    test_freq: PositiveInt | None = Field(default=None, description="evaluate every N steps (and at the end)")
    test_batches: PositiveInt | None = Field(default=None, description="evaluate on the first N test batches")
    auc_threshold: float | None = Field(default=None, gt=0, le=1)
    model: ModelBlock = Field(default_factory=ModelConfig,
                              description="the workload family's model configuration (family: dlrm by default)")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    serve: ServeConfig | None = Field(default=None, description="the serving benchmark (mode: serve)")
    seed: int = 12345
    timeout_s: PositiveFloat = Field(default=3600, description="the case is killed after this many seconds")
    progress_every: PositiveInt = Field(default=20, description="steps between progress updates")
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    checkpoint: CheckpointConfig | None = Field(default=None, description="save/load model weights")
    mlperf_log: MlperfLogConfig | None = Field(default=None, description="write an MLPerf dlrm log (train mode)")
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    allocator: AllocatorName = Field(
        default=DEFAULT_ALLOCATOR, description="the worker's host memory allocator and its settings "
        "(dlrmbench.allocators: glibc-tuned, glibc, jemalloc, tcmalloc)")
    huge_pages: bool = Field(
        default=False, description="true: PyTorch's large host buffers (2 MiB and up: the tables, activations) "
        "on transparent huge pages (THP_MEM_ALLOC_ENABLE=1), where the kernel's mode gives them (madvise or "
        "always); false: 4 KiB pages, as a plain Python process")
    reference: Reference | None = None
    comparable: bool = Field(default=True, description="false when scaled down: never compare with the reference")
    not_comparable: str | None = Field(
        default=None, description="set by the planner: why the throughput cannot be set against the reference "
        "besides scaling down (the dataset plugin's reason, e.g. synthetic uniform ids); None otherwise")
    auc_comparable: bool | None = Field(
        default=None, description="set by the planner from the dataset plugin: false when its AUC cannot be set "
        "against published ones (synthetic labels); None in results written before this field")
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_safe_name(value, "case name")

    @model_validator(mode="after")
    def _mode_options(self) -> "Case":
        if self.checkpoint is not None and self.checkpoint.save is not None and self.mode != "train":
            raise ValueError(f"checkpoint.save only applies to mode train (this case is mode {self.mode})")
        if self.mlperf_log is not None:
            if self.mode != "train":
                raise ValueError(f"mlperf_log only applies to mode train (this case is mode {self.mode})")
            if self.mlperf_log.benchmark == "dlrm_dcnv2":
                if self.optimizer.name != "adagrad":
                    raise ValueError("mlperf_log.benchmark dlrm_dcnv2 needs optimizer.name adagrad (MLPerf DLRMv2)")
                if self.mlperf_log.division == "closed" and isinstance(self.model, ModelConfig) and (
                    self.model.interaction.name != "dcnv2" or self.model.bottom_mlp != [512, 256, 128]
                    or self.model.top_mlp != [1024, 1024, 512, 256, 1] or self.model.embedding_dim != 128
                ):
                    raise ValueError("mlperf_log.division closed (dlrm_dcnv2) needs the reference model "
                                     "(interaction dcnv2, bottom 512-256-128, top 1024-1024-512-256-1, dim 128); "
                                     "use division: open")
            elif self.optimizer.name == "adagrad":
                raise ValueError("mlperf_log.benchmark dlrm is the SGD DLRM; an adagrad run logs "
                                 "benchmark: dlrm_dcnv2")
            elif self.mlperf_log.division == "closed" and isinstance(self.model, ModelConfig) and (
                len(self.model.bottom_mlp) != 3 or len(self.model.top_mlp) != 5
            ):
                raise ValueError(
                    "mlperf_log.division closed needs the reference layer counts (model.bottom_mlp of 3 layers, "
                    "model.top_mlp of 5); use division: open for other shapes"
                )
        if self.serve is not None and self.mode != "serve":
            raise ValueError(f"serve only applies to mode serve (this case is mode {self.mode}); set mode: serve "
                             "or drop the serve key")
        if self.mode == "serve":
            if self.serve is None:
                self.__dict__["serve"] = ServeConfig()  # the defaults: onnxruntime, batch 1/64/2048 x 1/2/4 clients
            if self.precision != "fp32":
                raise ValueError(f"mode serve exports an fp32 model (this case has precision {self.precision}); "
                                 "set precision: fp32")
            if self.world_size != 1:
                raise ValueError("mode serve exports the model of one process; set gpus: 1 and processes: 1")
        if self.inference.cuda_graphs and self.device != "cuda":
            raise ValueError("inference.cuda_graphs needs device: cuda (CUDA graphs do not exist on the CPU)")
        return self

    def plugin(self, kind: str) -> tuple[str, dict[str, Any]]:
        """``(name, options)`` of the case's plugin of ``kind``: ``family`` (``model.family``; the options are
        the rest of the ``model:`` block), ``backend``, ``embedding``, ``interaction`` (``model.interaction``),
        ``optimizer`` (``optimizer.name`` / ``optimizer.options``), ``dataset``, ``topology``
        (``distributed.topology``, None when the suite names none)."""
        if kind == "family":
            return self.model.family, self.model.model_dump(mode="json", exclude={"family"})
        if kind == "topology":
            return self.distributed.topology or "", {}
        if kind == "interaction":  # the default family's; another family's block may use the word for itself
            ref = getattr(self.model, "interaction", None)
            if not isinstance(ref, PluginRef):
                return "", {}
            return ref.name, ref.options
        ref: Any = self.optimizer if kind == "optimizer" else getattr(self, kind)
        return ref.name, ref.options

    def names_plugin(self, kind: str) -> bool:
        """True when the suite chose this case's ``kind`` plugin (False: the family's default applies). Told by
        which fields were set, so that an explicit choice equal to the default family's (``optimizer: {name:
        sgd}`` in a family whose default is another) is kept; :meth:`variant_data` keeps it so."""
        if kind == "topology":
            return self.distributed.topology is not None
        if kind == "interaction":
            return isinstance(getattr(self.model, "interaction", None), PluginRef) \
                and "interaction" in self.model.model_fields_set
        if kind == "optimizer":
            return "name" in self.optimizer.model_fields_set
        return kind in self.model_fields_set

    def variant_data(self) -> dict[str, Any]:
        """The case as data for a variant of it (scale-down, a dataset path): every field, but the plugin
        choices the suite left to the family's defaults stay unset, so the variant keeps those defaults."""
        data = self.model_dump()
        for kind in ("backend", "embedding", "dataset"):
            if not self.names_plugin(kind):
                data.pop(kind)
        if not self.names_plugin("optimizer"):
            data["optimizer"].pop("name")
        if not self.names_plugin("interaction") and isinstance(data.get("model"), dict):
            data["model"].pop("interaction", None)
        return data

    @property
    def world_size(self) -> int:
        return self.gpus if DEVICES[self.device].indexed else self.processes  # accelerators count devices

    @property
    def eval_batch_size(self) -> int:
        return self.test_batch_size or self.batch_size


class Suite(Strict):
    """A YAML suite as written: cases are templates, expanded by the loader."""

    name: str = Field(min_length=1)
    description: str = ""
    source: str | None = Field(default=None, description="where the suite's reference numbers come from")
    defaults: dict[str, Any] = Field(default_factory=dict, description="case fields applied to every case")
    cases: list[dict[str, Any]] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, value: Any) -> Any:
        """Top-level keys starting with ``x-`` only hold YAML anchors (``x-single-gpu: &single_gpu``) that
        cases merge with ``<<: *single_gpu``; they are not suite fields."""
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if not (isinstance(k, str) and k.startswith("x-"))}
        return value

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_safe_name(value, "suite name")
