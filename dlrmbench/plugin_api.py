"""The plugin contract: every plugin kind's typed interface, the build context, and the Batch type.

A plugin registers :class:`PluginSpec` objects (through the ``register_*`` hooks of
:mod:`dlrmbench.hookspecs`). Each spec names a ``factory`` (``"module:attr"``, imported only when a
case runs) that is called with ONE argument, a :class:`BuildContext`, and returns the object of its
kind's interface below:

=============  =================================  ==============================================
kind           factory(ctx) returns               interface
=============  =================================  ==============================================
family         the workload family (model, loss,  :class:`WorkloadFamily`
               metrics over its batches)
backend        the dense parts                    :class:`DenseBackend`
embedding      an ``nn.Module``                   :class:`EmbeddingStrategy`
interaction    an ``nn.Module``                   :class:`Interaction`
optimizer      an optimizer builder               :class:`OptimizerPlugin`
dataset        a dataset                          :class:`Dataset`
topology       how the ranks of a multi-process   :class:`TopologyRunner`
               case split the model and the data
telemetry      an opener of its readings          :class:`TelemetrySource`
=============  =================================  ==============================================

A case names one plugin of each kind its family uses (``PluginSpec.uses`` of the family spec; a
dataset and an optimizer always), and a topology when it runs on more than one process. Every other
kind's spec may declare the families it serves (``families``; None: every family).

Everything here is light (pydantic and the standard library; tensor types only under
TYPE_CHECKING) so that listing plugins and validating suites never imports torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Protocol, Sized, runtime_checkable

from pydantic import BaseModel, ConfigDict

from dlrmbench.batch import Batch, Ids, SparseFeatures

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dlrmbench.host import Host

__all__ = [
    "Batch", "BatchStream", "BuildContext", "CapabilityCheck", "Dataset", "DatasetFormat", "DenseBackend",
    "EmbeddingStrategy", "FamilyConfig", "FamilyMetric", "Ids", "Interaction", "KINDS", "MODEL_KINDS",
    "OptimizerPlugin", "ParameterGroup", "PluginKind", "PluginOptions", "PluginSpec", "ServedModel", "SparseFeatures",
    "TopologyRunner", "WorkloadFamily", "missing_methods", "module_available",
]

PluginKind = Literal["family", "backend", "embedding", "interaction", "optimizer", "dataset", "topology",
                     "telemetry"]
KINDS: tuple[PluginKind, ...] = ("family", "backend", "embedding", "interaction", "optimizer", "dataset", "topology",
                                 "telemetry")
MODEL_KINDS: tuple[PluginKind, ...] = ("backend", "embedding", "interaction")
"""The kinds a family may build its model from (it lists those it uses in ``PluginSpec.uses``)."""
ALWAYS_USED: tuple[PluginKind, ...] = ("family", "optimizer", "dataset")
"""The kinds every case resolves, whatever its family (a topology only when it runs on several processes)."""


class PluginOptions(BaseModel):
    """Base class of every plugin's options model: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class FamilyConfig(PluginOptions):
    """Base class of a family's model configuration (the case's ``model:`` block).

    ``family`` names the family; the rest are the family's own fields. A family whose model uses an
    embedding strategy gives the fields the strategies read (``embedding_dim``, ``table_sizes``,
    ``hash_indices``, ``max_table_size``).
    """

    family: str


@dataclass(frozen=True)
class FamilyMetric:
    """A quality metric a family computes at evaluation: its name, unit and direction travel with every
    value into the result (``compare`` reads them from there, never from the family)."""

    name: str
    unit: str = ""
    higher_is_better: bool | None = True
    description: str = ""


# --- The build context ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildContext:
    """Everything a factory may use, for every plugin kind.

    Attributes:
        case: the resolved case (read-only; every field already validated).
        options: this plugin's validated ``Options`` instance (never a raw dict).
        table_sizes: rows of each embedding table; None only for a dataset whose tables come from its
            data (the dataset's own ``table_sizes()`` then tells).
        device: where the model runs, a ``torch.device`` string such as ``"cpu"`` or ``"cuda:0"``.
        rank: this process's rank (0 in a single-process run).
        world_size: processes of the case (1 in a single-process run).
    """

    case: Any  # the resolved case (dlrmbench.config.schema.Case); the contract does not import the config stage
    options: Any
    table_sizes: tuple[int, ...] | None
    device: str = "cpu"
    rank: int = 0
    world_size: int = 1

    @property
    def num_features(self) -> int:
        """Categorical features F (0 when the table sizes are not known yet)."""
        return len(self.table_sizes or ())

    @property
    def embedding_dim(self) -> int:
        """The model configuration's ``embedding_dim`` (families that use embedding strategies declare it)."""
        return int(getattr(self.case.model, "embedding_dim"))

    @property
    def num_vectors(self) -> int:
        """Vectors an interaction combines: the bottom MLP's output plus one per feature."""
        return 1 + self.num_features

    def with_plugin(self, options: Any, table_sizes: "list[int] | tuple[int, ...] | None" = None) -> "BuildContext":
        """The same context for another plugin (its options), optionally other table sizes (a rank's tables)."""
        sizes = self.table_sizes if table_sizes is None else tuple(table_sizes)
        return BuildContext(self.case, options, sizes, self.device, self.rank, self.world_size)


# --- The interfaces (what factories return) -------------------------------------------------------


@runtime_checkable
class DenseBackend(Protocol):
    """A backend: the model's dense parts.

    ``mlp(in_features, sizes)``: ``(B, in_features) -> (B, sizes[-1])`` with a ReLU after every layer
    and a ``reset_parameters(generator=None)`` method (NVIDIA's initialisation).
    ``interaction(ctx)``: an accelerated module for the case's interaction (``ctx.case.model.interaction``
    names it, ``ctx.options`` are the interaction's options), or None to use the interaction plugin's.
    ``finalize(model)``: the module to run (``model`` itself, or e.g. a compiled wrapper).
    """

    def mlp(self, in_features: int, sizes: list[int]) -> "nn.Module": ...

    def interaction(self, ctx: BuildContext) -> "nn.Module | None": ...

    def finalize(self, model: "nn.Module") -> "nn.Module": ...


@runtime_checkable
class EmbeddingStrategy(Protocol):
    """An embedding strategy: an ``nn.Module`` mapping ids to pooled vectors ``(B, F, D)``.

    ``forward(ids)``: ``ids`` is a ``(B, F)`` int64 tensor or :class:`SparseFeatures` (several ids per
    feature, summed). A strategy that handles only one-hot ids registers with
    ``PluginSpec(multi_hot=False)`` and the planner skips multi-hot cases with a reason.
    Subclass :class:`dlrmbench.model.embeddings.EmbeddingBase` to get id checking, hashing and the
    memory accounting (``parameter_bytes()``; ``optimizer_state_bytes(per_parameter)``: the state its
    optimizer keeps for the tables, from the optimizer plugin's bytes per parameter unless it applies its own).

    ``applies_own_optimizer``: True when the strategy updates its tables inside backward (FBGEMM's
    fused TBE, TorchRec's fused optimizer, an optimizer-in-backward fast path). The optimizer plugin
    then leaves its parameters alone; the loop calls ``set_learning_rate(lr)`` before every step. Such
    a strategy keeps its optimizer's state in its state dict (``get_extra_state``) so checkpoints carry it.

    Optional ``shardable(gradient_scale, table_sizes=None)``: the same tables (or tables of ``table_sizes``
    rows, never allocated: ``dlrmbench plan`` asks TorchRec's planner about them) as a TorchRec
    ``EmbeddingBagCollection`` on the meta device with the optimizer applied in backward, for
    ``distributed.topology: torchrec_dmp`` (``torchrec_fused``).
    """

    table_sizes: list[int]
    dim: int
    num_features: int
    applies_own_optimizer: bool

    def __call__(self, ids: Ids) -> "torch.Tensor": ...

    def reset_parameters(self, generator: "torch.Generator | None" = None) -> None: ...

    def parameter_bytes(self) -> int: ...

    def optimizer_state_bytes(self, per_parameter: float) -> int: ...

    def set_learning_rate(self, lr: float) -> None: ...


@runtime_checkable
class Interaction(Protocol):
    """An interaction: ``forward(bottom (B, D), embedded (B, F, D)) -> (B, out_features)``, an ``nn.Module``
    with an ``out_features`` attribute (the top MLP's input width).

    Optional: ``reset_parameters(generator)`` for an interaction with weights (called after the tables,
    from the case's seed); ``zero_padding_column = True`` when the top MLP's last input column is a zero
    pad whose weights start at zero (the reference's ``dot``); the model assumes none.
    """

    out_features: int

    def __call__(self, bottom: "torch.Tensor", embedded: "torch.Tensor") -> "torch.Tensor": ...


ParameterGroup = dict
"""One group handed to an optimizer plugin: ``{"params": [...], "sparse": bool, "lr_scale": float}``.

``sparse`` groups are embedding tables with sparse gradients; ``lr_scale`` multiplies the scheduled
learning rate (1 in the built-in layouts: hybrid parallel hands every group the global-batch mean gradient). The loop sets
``group["lr"]`` before every step from the case's schedule (``optimizer:`` warm-up and decay)."""


@runtime_checkable
class OptimizerPlugin(Protocol):
    """An optimizer: ``build(groups)`` returns a ``torch.optim.Optimizer`` over the given groups
    (keeping each group's extra keys, so the loop can read ``lr_scale``)."""

    def build(self, groups: list[ParameterGroup]) -> "torch.optim.Optimizer": ...


class BatchStream(Sized, Protocol):
    """A re-iterable sequence of batches with a known length (batches per epoch)."""

    def __iter__(self) -> Iterator[Batch]: ...


@runtime_checkable
class Dataset(Protocol):
    """A dataset.

    ``table_sizes()``: rows of each categorical table, or None when the suite must give them.
    ``batches(split, batch_size, device)``: a :class:`BatchStream` of ``split`` (``train`` or ``test``);
    ``device`` is where the model runs: a dataset may place batches there or leave them on the host.
    Optional attribute ``ids_validated``: True when every id was already checked against the table sizes.
    Optional ``rank_batches(split, batch_size, device, share)``: only a rank's
    :class:`~dlrmbench.data.share.BatchShare` of every global batch, each a ``Batch`` with ``global_rows`` set
    (without it a multi-process rank reads every global batch and cuts its share in memory); optional
    ``bytes_read()``: bytes this process has read from the dataset's files (the result's ``host_bytes_read``).
    """

    def table_sizes(self) -> list[int] | None: ...

    def batches(self, split: str, batch_size: int, device: "torch.device") -> BatchStream: ...


@runtime_checkable
class WorkloadFamily(Protocol):
    """A workload family: what the one training loop, evaluation and inference ask of a model family.

    ``build_model(ctx, build)``: the family's ``nn.Module`` on the CPU, seeded from ``ctx.case.seed``;
    ``build(kind, table_sizes=None)`` builds the case's plugin of a kind the family uses (its spec's
    ``uses``), e.g. ``build("embedding")``.
    ``model_inputs(batch)``: the tuple the model is called with (``model(*inputs)``): what inference,
    CUDA graphs and serving export trace.
    ``target(batch)``: what the loss compares the outputs with (a per-sample tensor: a hybrid-parallel
    rank takes its slice of it), or None when the batch itself is the target (in-batch negatives).
    ``loss(outputs, target)``: the mean loss of the batch (a 0-d tensor; fp32).
    ``eval_rows(outputs, target)``: one 1-D tensor per name with one value per sample (logits, labels,
    hit indicators, ranks): the core concatenates them over the test split (and over ranks, in order).
    ``metrics(rows)``: the family's quality metrics from the concatenated rows (names as declared in its
    spec's ``metrics``); raises on rows that cannot be scored (non-finite outputs).
    ``check_batch(batch, table_sizes)``: refuse data that does not fit the model, naming the fields.
    Optional ``units(batch)``: work in the batch besides samples, as host numbers (``{"tokens": 4096}``, never
    a device tensor: it is read every measured step); the result gets ``train_<unit>_throughput``.
    Optional ``serving(model, dataset)``: the model as it is served, a :class:`ServedModel` (export, ``mode:
    serve``, LoadGen); a family whose spec says ``serving=True`` without this method is served by the core's
    own layout (``numerical, categorical -> logit``, DLRM's).
    """

    def build_model(self, ctx: BuildContext, build: Callable[..., Any]) -> "nn.Module": ...

    def model_inputs(self, batch: Any) -> tuple[Any, ...]: ...

    def target(self, batch: Any) -> Any: ...

    def loss(self, outputs: "torch.Tensor", target: Any) -> "torch.Tensor": ...

    def eval_rows(self, outputs: "torch.Tensor", target: Any) -> dict[str, "torch.Tensor"]: ...

    def metrics(self, rows: dict[str, "torch.Tensor"]) -> dict[str, float]: ...

    def check_batch(self, batch: Any, table_sizes: list[int]) -> None: ...


@runtime_checkable
class ServedModel(Protocol):
    """A family's model as served (``WorkloadFamily.serving(model, dataset)`` returns it): one fp32 module with
    named inputs, and what export, ``--check``, ``mode: serve`` and LoadGen need to drive it.

    ``input_names`` / ``output_names``: the served module's inputs and outputs in call order. Jagged inputs are
    values + offsets (an ``offsets`` input of B + 1 entries), never padded by the caller. ``formats``: the export
    formats the module can be written in (``("onnx", "torchscript")``; empty when only the PyTorch targets serve it,
    e.g. shapes that depend on the data).
    ``module()``: the fp32 CPU ``nn.Module`` that is exported and served (``module(*inputs)`` -> a tensor or a
    tuple in ``output_names`` order). ``onnx_dynamic_shapes()``: ``torch.export`` dynamic shapes per input name.
    ``example(batch_size, seed)``: a request of ``batch_size`` samples from the case's data, as numpy arrays in
    ``input_names`` order (tracing, ``--check``, closed-loop clients).
    ``reference(inputs)``: the outputs the *training* model computes for those inputs (its own eager path: what
    ``--check`` and the accuracy run compare against), numpy, ``output_names`` order.
    ``compare(served, reference)``: ``{"max_abs_diff", "tolerance", "passed", ...}`` for one request; the family
    states its tolerance here.
    ``library(samples, seed)``: LoadGen's query sample library (:class:`dlrmbench.loadgen.qsl.SampleLibrary`):
    ``samples`` samples of the case's data, ``prepare(indices).inputs`` in ``input_names`` order, one label
    row per data row. The first output of the module, one row per data row, is what a sample's response holds.
    ``accuracy(outputs, labels)``: the family's quality metrics (declared ``metrics`` names) from the responses'
    outputs and labels (numpy, one row per data row); ``accuracy_metric``: the one the 99% / 99.9% gates apply to.
    """

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    formats: tuple[str, ...]
    accuracy_metric: str

    def module(self) -> "nn.Module": ...

    def onnx_dynamic_shapes(self) -> dict[str, Any]: ...

    def example(self, batch_size: int, seed: int) -> tuple[Any, ...]: ...

    def reference(self, inputs: tuple[Any, ...]) -> tuple[Any, ...]: ...

    def compare(self, served: tuple[Any, ...], reference: tuple[Any, ...]) -> dict[str, Any]: ...

    def library(self, samples: int, seed: int) -> Any: ...

    def accuracy(self, outputs: Any, labels: Any) -> dict[str, float]: ...


@runtime_checkable
class TopologyRunner(Protocol):
    """How the ranks of a multi-process case run it (``distributed.topology``; factory(ctx) returns it).

    ``run(resolved, reporter, rank, world_size, local_rank)``: build this rank's share of the model and
    data, run the case's mode with the one training loop, and (rank 0) emit the ``result`` event. The
    process group is already initialised (gloo on the CPU, NCCL on GPUs).
    """

    def run(self, resolved: Any, reporter: Any, rank: int, world_size: int, local_rank: int) -> None: ...


@runtime_checkable
class TelemetrySource(Protocol):
    """A telemetry source the sampler reads around every case (in the ``dlrmbench run`` process).

    ``open(targets)``: ``(reader, None)``, or ``(None, why it cannot read here)``. A device source
    (``PluginSpec.devices`` lists the device types it reads) gets the indices of the case's devices and its
    reader's ``read()`` returns one dict per device (``power_w``, ``energy_j``, ``sm_clock_mhz``,
    ``memory_used_bytes``, ``temperature_c``, ``throttle_mask``, ``pids``, ...: None where unknown), with
    ``indices``, ``names`` and ``close()``. The host source (``devices`` None) gets the worker's pid and
    its reader's ``read(now)`` returns the machine's and the worker tree's CPU and memory, with ``tree``.
    """

    def open(self, targets: Any) -> tuple[Any, "str | None"]: ...


def missing_methods(obj: Any, protocol: type) -> list[str]:
    """The methods and attributes of ``protocol`` that ``obj`` lacks (the check made when a plugin is built,
    so that a plugin missing something the core calls is refused by name, not by an AttributeError later)."""
    wanted = [name for name in getattr(protocol, "__protocol_attrs__", ()) if not name.startswith("_")]
    if not wanted:  # Python < 3.12 keeps them elsewhere
        wanted = [name for name in vars(protocol) if not name.startswith("_")]
        wanted += list(getattr(protocol, "__annotations__", {}))
    return sorted(name for name in set(wanted) if not hasattr(obj, name))


@dataclass(frozen=True)
class DatasetFormat:
    """An on-disk format a dataset plugin reads, so ``--dataset-path`` and ``dataset inspect`` know it.

    Attributes:
        detect: ``detect(path)`` True when the directory holds this format (cheap: names and sizes).
        table_sizes: ``table_sizes(path)`` rows per table, or None when the files do not say.
        inspect: ``inspect(path, scan)`` a JSON-ready report: ``format``, ``table_sizes``, ``splits``
            (per split at least ``samples``), ``problems`` (list of messages) and ``ok``.
        priority: when several formats claim a directory the highest wins (built-ins use 0).
    """

    detect: Callable[[Path], bool]
    table_sizes: Callable[[Path], "list[int] | None"]
    inspect: Callable[[Path, bool], dict[str, Any]]
    priority: int = 0


# --- What a plugin registers ----------------------------------------------------------------------

CapabilityCheck = Callable[["Host", Any, Any], "str | None"]
"""``check(host, case, options)``: ``case`` is the case (``dlrmbench.config.schema.Case``) or None."""


@dataclass(frozen=True)
class PluginSpec:
    """One implementation a plugin registers.

    Attributes (every kind):
        kind: one of :data:`KINDS`.
        name: the name suites use, e.g. ``eager``.
        summary: one line for ``list-plugins``.
        factory: ``"module:attr"`` of ``factory(ctx: BuildContext)``, imported only when a case runs.
        options: the pydantic model of the plugin's ``options:`` block.
        check: ``check(host, case, options)`` returns ``None`` when the plugin can run, or a human
            reason why not ("needs a CUDA GPU"). ``case`` is ``None`` when only the machine is asked
            (``list-plugins``). It must not import torch.
        requires: module names that must be importable (checked with ``find_spec``, no import).

    Embedding strategies:
        multi_hot: accepts several ids per feature (:class:`SparseFeatures`); False: the planner skips
            multi-hot cases with "multi-hot is not supported by this strategy".

    Interactions:
        output_width: ``output_width(options, num_vectors, dim)`` the top MLP's input width, light (the
            memory planner uses it before torch is imported); None: unknown to the planner.
        mlp_init: the MLP initialisation (``model.mlp_init``) of a case that leaves it ``auto``: that of the
            reference model the interaction comes from (``nvidia`` or ``torch``).
        saved_bytes: ``saved_bytes(options, num_vectors, dim)`` bytes per sample the interaction keeps for
            its backward besides its output (the memory planner's activations); None: nothing counted.

    Optimizers:
        state_bytes_per_parameter: optimizer state per parameter element in bytes (Adagrad fp32: 4),
            counted by the memory planner.
        linear_in_gradient: the update is proportional to the gradient (SGD), so a gradient k times too
            large is undone by a learning rate k times smaller (TorchRec's summed table gradients).

    Every kind but ``family``:
        families: the families this plugin serves (``("dlrm",)`` for an interaction of DLRM's), or None
            for every family; the planner skips a case whose family it does not serve, with the reason.

    Families (``options`` is the family's model configuration, a :class:`FamilyConfig`):
        uses: the model kinds (:data:`MODEL_KINDS`) the family builds its model from; a case of the family
            resolves a plugin of each (the suite's choice or the kind's default) and none of the others.
        metrics: the quality metrics its ``metrics(rows)`` returns (name, unit, direction), or
            ``metrics(config)`` giving them from the validated model configuration (names that depend on it).
        target_metric: the metric ``auc_threshold`` and the MLPerf log's quality target apply to (or
            ``target_metric(config)``).
        flops_per_sample: ``flops_per_sample(config, resolved)`` training FLOPs per sample (forward and
            backward), light; None when unknown. The result gets a FLOP/s figure from it.
        memory_plan: ``memory_plan(resolved, table_sizes, capacities, shared_capacity)`` the memory plan of
            the case's processes, light: a :class:`dlrmbench.memory_plan.TermsPlan` built from the family's
            named byte terms per rank (:func:`dlrmbench.memory_plan.terms_plan`), or any object with
            ``fits``, ``problems``, ``rows()``, ``notes()`` and ``shared_capacity_bytes``. ``plan`` shows
            it and the planner skips a case that does not fit. None: no plan before the run.
        default_topology: the topology of its multi-process cases when the suite names none.
        serving: its models can be exported for serving (``dlrmbench export``, ``mode: serve``, LoadGen): the family
            object's ``serving(model, dataset)`` gives a :class:`ServedModel`, or, without that method, the core
            serves the ``numerical, categorical -> logit`` layout.
        verify: ``"module:attr"`` of ``verify(device) -> list[dict]``, the family's rows of
            ``dlrmbench verify`` (each with ``name``, ``ok``, ``max_abs_diff``, ``detail``).
        defaults: the default plugin of each kind for this family's cases (``{"embedding": "joint"}``).

    Topologies:
        tables: how its ranks hold a model's tables, for the memory planner: ``placed`` (dlrmbench's placement,
            each table on one rank), ``replicated`` (every rank holds the whole model) or ``own`` (the
            topology's own planner places them at run time).
        table_plan: ``table_plan(resolved)`` the per-table plan the topology's own planner will make for the
            case (rows of ``table``, ``rows``, ``sharding_type``, ``compute_kernel``, ``ranks``), or a string
            saying why it cannot be made here; ``dlrmbench plan`` shows it. Light to import; called only for
            this topology's cases (it may import torch then). None: no plan before the run.

    Telemetry sources:
        devices: the device types whose devices it reads (``("cuda",)``), or None for the host source.

    Datasets:
        table_sizes: ``table_sizes(options, case)`` the table sizes before the worker runs, or None.
        format: the on-disk format this dataset reads (detector, sizes, inspector), or None.
        hotness: ``hotness(options, case)`` ids per sample of each feature, or None for one-hot data.
        scale_down: ``scale_down(options_dict, rows, samples)`` the options of a scaled-down case
            (``rows``: the largest table, ``samples``: train and test samples), or None: the core then
            folds ids into small tables with ``model.hash_indices``.
        auc_comparable: its AUC can be set against published ones (real Criteo data); False for
            synthetic labels.
        throughput_comparable: ``throughput_comparable(options, case)`` why the case's throughput cannot be
            set against published runs on real data (the planner marks it not comparable with this reason),
            or None when it can; light. None: always comparable.
    """

    kind: PluginKind
    name: str
    summary: str
    factory: str
    options: type[PluginOptions] = PluginOptions
    check: CapabilityCheck | None = None
    requires: tuple[str, ...] = ()
    multi_hot: bool = False
    output_width: Callable[[Any, int, int], int] | None = None
    mlp_init: str = "nvidia"
    saved_bytes: Callable[[Any, int, int], int] | None = None
    state_bytes_per_parameter: float = 0.0
    linear_in_gradient: bool = False
    table_sizes: Callable[[Any, Any], "list[int] | None"] | None = None
    format: DatasetFormat | None = None
    hotness: Callable[[Any, Any], "list[int] | None"] | None = None
    scale_down: Callable[[dict[str, Any], int, "tuple[int, int]"], dict[str, Any]] | None = None
    auc_comparable: bool = True
    throughput_comparable: Callable[[Any, Any], "str | None"] | None = None
    families: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    tables: Literal["placed", "replicated", "own"] = "placed"
    table_plan: Callable[[Any], "list[dict[str, Any]] | str"] | None = None
    uses: tuple[PluginKind, ...] = ()
    metrics: "tuple[FamilyMetric, ...] | Callable[[Any], tuple[FamilyMetric, ...]]" = ()
    target_metric: "str | Callable[[Any], str | None] | None" = None
    flops_per_sample: Callable[[Any, Any], "float | None"] | None = None
    memory_plan: Callable[[Any, list[int], "list[int] | None", "int | None"], Any] | None = None
    default_topology: str | None = None
    serving: bool = False
    verify: str | None = None
    defaults: dict[str, str] = field(default_factory=dict, compare=False)
    source: str = field(default="", compare=False)

    def serves(self, family: str) -> bool:
        """True when this plugin can be part of a case of ``family``."""
        return self.families is None or family in self.families

    def availability(self, host: "Host", case: Any = None, options: Any = None) -> str | None:
        """Return ``None`` if this implementation can run here (for ``case``), else why not."""
        for module in self.requires:
            if not module_available(module):
                return f"Python module {module!r} is not installed"
        if self.check is None:
            return None
        opts = options if options is not None else self.options()
        return self.check(host, case, opts)

    def load(self) -> Callable[..., Any]:
        """Import and return the factory named by :attr:`factory`."""
        module_name, _, attr = self.factory.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module

    def build(self, ctx: BuildContext) -> Any:
        """Import the factory and call it with ``ctx`` (the one way the core builds a plugin)."""
        return self.load()(ctx)


def module_available(name: str) -> bool:
    """True when ``name`` could be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
