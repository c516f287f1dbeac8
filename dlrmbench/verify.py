"""``dlrmbench verify``: prove every backend x embedding x interaction computes the same function.

Every available combination is built on one small random DLRM from the same seed (``build_dlrm``
draws all initial weights from one generator in a fixed order, so every implementation starts from
the same numbers), trained for a few SGD steps (sparse embedding gradients) on the same batches,
and compared with the eager + multi_table reference of the same interaction: the largest relative
difference of the outputs of every step, of the losses, and of every updated parameter.

Relative difference of a tensor ``a`` against the reference ``r``: ``max|a - r| / max|r|``.
Imports torch only inside functions (the module is imported by the CLI).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dlrmbench.errors import UserError
from dlrmbench.precisions import PRECISIONS

if TYPE_CHECKING:
    import torch

    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host
    from dlrmbench.plugin_api import PluginSpec
    from dlrmbench.plugins import Registry

VerifyPrecision = Literal["fp32", "amp", "bf16"]
TOLERANCES: dict[str, float] = {n: r.verify_tolerance for n, r in PRECISIONS.items() if r.verify_tolerance is not None}
REFERENCE = ("eager", "multi_table")
INTERACTIONS = ("dot", "cat")  # the built-in ones, first; every registered interaction is verified


@dataclass(frozen=True)
class VerifySettings:
    """The small model and run every combination is checked on (tiny: the Triton interpreter is slow)."""

    device: str = "cpu"
    precision: VerifyPrecision = "fp32"
    steps: int = 3
    batch_size: int = 16
    table_sizes: tuple[int, ...] = (7, 13, 5, 11)
    embedding_dim: int = 16
    bottom_mlp: tuple[int, ...] = (32, 16)
    top_mlp: tuple[int, ...] = (32, 16, 1)
    num_numerical: int = 13
    lr: float = 0.5
    seed: int = 4321

    @property
    def tolerance(self) -> float:
        return TOLERANCES[self.precision]


@dataclass(frozen=True)
class Combination:
    backend: str
    embedding: str
    interaction: str

    @property
    def label(self) -> str:
        return f"{self.backend} + {self.embedding} ({self.interaction})"


@dataclass
class Trace:
    """What a run produced: logits of every step, losses, and the parameters after the last step."""

    outputs: "torch.Tensor"
    losses: "torch.Tensor"
    parameters: dict[str, "torch.Tensor"]


@dataclass
class Check:
    """The verdict on one combination."""

    combination: Combination
    status: Literal["pass", "fail", "error", "unavailable"]
    outputs: float | None = None
    losses: float | None = None
    parameters: float | None = None
    worst_parameter: str | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "error")


@dataclass
class VerifyReport:
    settings: VerifySettings
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.checks)


def relative_difference(actual: "torch.Tensor", reference: "torch.Tensor") -> float:
    """``max|actual - reference| / max|reference|`` in float64 (0 when both are all zeros)."""
    a, r = actual.detach().double().cpu(), reference.detach().double().cpu()
    if a.shape != r.shape:
        raise ValueError(f"shape {tuple(a.shape)} differs from the reference's {tuple(r.shape)}")
    scale = float(r.abs().max()) if r.numel() else 0.0
    diff = float((a - r).abs().max()) if r.numel() else 0.0
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / scale


def make_case(settings: VerifySettings, combo: Combination, options: dict[str, dict[str, Any]]) -> "Case":
    from dlrmbench.config.schema import Case, ModelConfig, PluginRef

    return Case(
        name="verify",
        device=settings.device,  # type: ignore[arg-type]
        precision=settings.precision,
        backend=PluginRef(name=combo.backend, options=options.get(combo.backend, {})),
        embedding=PluginRef(name=combo.embedding, options=options.get(combo.embedding, {})),
        batch_size=settings.batch_size,
        seed=settings.seed,
        model=ModelConfig(
            bottom_mlp=list(settings.bottom_mlp), top_mlp=list(settings.top_mlp),
            embedding_dim=settings.embedding_dim, interaction=combo.interaction,  # type: ignore[arg-type]
            table_sizes=list(settings.table_sizes), num_numerical=settings.num_numerical,
        ),
    )


def plugin_options(spec: "PluginSpec", device: str) -> dict[str, Any]:
    """Options a plugin gets in verify: ``interpret: true`` on the CPU for plugins that have it."""
    if device == "cpu" and "interpret" in spec.options.model_fields:
        return {"interpret": True}
    return {}


def make_batches(settings: VerifySettings) -> list[tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]]:
    """``steps`` batches of (numerical, categorical, label), drawn from the seed on the CPU."""
    import torch

    generator = torch.Generator().manual_seed(settings.seed + 1)
    sizes = torch.tensor(settings.table_sizes)
    batches = []
    for _ in range(settings.steps):
        numerical = torch.randn(settings.batch_size, settings.num_numerical, generator=generator)
        unit = torch.rand(settings.batch_size, len(settings.table_sizes), generator=generator, dtype=torch.float64)
        categorical = (unit * sizes).long().clamp_max(sizes - 1)
        label = torch.randint(0, 2, (settings.batch_size,), generator=generator).float()
        batches.append((numerical, categorical, label))
    return batches


def canonical_parameters(model: Any) -> dict[str, "torch.Tensor"]:
    """Parameters under implementation-independent names.

    The dense parts keep their parameter order (every backend's MLPs hold weight, bias per layer);
    an embedding strategy's tables are concatenated row-wise into one ``(sum(rows), D)`` matrix
    (one table per feature or one joint table give the same matrix).
    """
    import torch

    out: dict[str, torch.Tensor] = {}
    for part in ("bottom_mlp", "interaction", "top_mlp", "out"):
        for i, p in enumerate(getattr(model, part).parameters()):
            out[f"{part}.{i}"] = p.detach().float().cpu()
    dim = model.embeddings.dim
    tables = [p.detach().float().cpu().reshape(-1, dim) for p in model.embeddings.parameters()]
    out["embeddings"] = torch.cat(tables) if tables else torch.zeros(0, dim)
    return out


def run_combination(case: "Case", batches: list[Any], lr: float) -> Trace:
    """Build ``case``'s model and train it on ``batches`` with the case's optimizer plugin (SGD) at a
    constant ``lr``, through the training loop's own step; return what it computed."""
    import torch

    from dlrmbench.batch import Batch
    from dlrmbench.workload.build import build_model, case_device
    from dlrmbench.workload.precision import apply_precision
    from dlrmbench.workload.train import make_optimizer, train_step

    device = case_device(case)
    model = build_model(case, list(case.model.table_sizes or [])).to(device)
    policy = apply_precision(case, device)
    scale = policy.static_loss_scale
    optimizer = make_optimizer(case, model)
    for group in optimizer.param_groups:
        group["lr"] = lr / scale
    if getattr(model.embeddings, "applies_own_optimizer", False):
        model.embeddings.set_learning_rate(lr / scale)  # it updates its tables inside backward
    loss_fn = torch.nn.BCEWithLogitsLoss()
    outputs, losses = [], []
    model.train()
    for numerical, categorical, label in batches:
        batch = Batch(numerical, categorical, label).to(device)
        logits, loss = train_step(model, batch, batch.label, optimizer, loss_fn, policy, scale)
        outputs.append(logits.detach().float().cpu())
        losses.append(loss.detach().float().cpu())
    return Trace(torch.stack(outputs), torch.stack(losses), canonical_parameters(model))


def compare(trace: Trace, reference: Trace, combo: Combination, tolerance: float) -> Check:
    outputs = relative_difference(trace.outputs, reference.outputs)
    losses = relative_difference(trace.losses, reference.losses)
    if trace.parameters.keys() != reference.parameters.keys():
        return Check(combo, "fail", outputs, losses, reason=(
            f"parameters {sorted(trace.parameters)} do not match the reference's {sorted(reference.parameters)}"))
    per_param = {k: relative_difference(v, reference.parameters[k]) for k, v in trace.parameters.items()}
    worst = max(per_param, key=lambda k: per_param[k])
    params = per_param[worst]
    passed = max(outputs, losses, params) <= tolerance
    return Check(combo, "pass" if passed else "fail", outputs, losses, params, worst,
                 None if passed else f"largest relative difference above {tolerance:g}")


def combinations(registry: "Registry") -> list[Combination]:
    """Every backend x embedding x interaction registered (each compared with eager + multi_table of the
    same interaction)."""
    names = registry.names("interaction")
    interactions = [i for i in INTERACTIONS if i in names] + [i for i in names if i not in INTERACTIONS]
    return [Combination(b, e, i) for i in interactions
            for b in registry.names("backend") for e in registry.names("embedding")]


def prepare_device(settings: VerifySettings) -> None:
    """Fail early on a missing GPU; on the CPU, switch Triton to its interpreter before it is imported."""
    if settings.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: torch sees no CUDA GPU here; use --device cpu")
    elif "triton" not in sys.modules:
        os.environ["TRITON_INTERPRET"] = "1"


def verify(settings: VerifySettings, registry: "Registry | None" = None, host: "Host | None" = None,
           only: list[Combination] | None = None) -> VerifyReport:
    """Check every available combination (or ``only``) against eager + multi_table."""
    from dlrmbench.host import current_host
    from dlrmbench.plugins import get_registry

    if settings.steps < 1:
        raise UserError("--steps must be at least 1")
    if settings.precision not in TOLERANCES:
        raise UserError(f"--precision {settings.precision!r}: choose one of {', '.join(TOLERANCES)}")
    registry = registry or get_registry()
    host = host or current_host()
    for kind, name in zip(("backend", "embedding"), REFERENCE):
        registry.get(kind, name)  # type: ignore[arg-type]  # the reference must exist
    prepare_device(settings)
    batches = make_batches(settings)
    options = {spec.name: plugin_options(spec, settings.device)
               for spec in registry.all_specs() if spec.kind in ("backend", "embedding")}
    report = VerifyReport(settings)
    references: dict[str, Trace] = {}
    for combo in only or combinations(registry):
        case = make_case(settings, combo, options)
        reason = _unavailable(case, registry, host)
        if reason:
            report.checks.append(Check(combo, "unavailable", reason=reason))
            continue
        try:
            if combo.interaction not in references:
                ref_combo = Combination(*REFERENCE, combo.interaction)
                references[combo.interaction] = run_combination(
                    make_case(settings, ref_combo, options), batches, settings.lr)
            trace = run_combination(case, batches, settings.lr)
            report.checks.append(compare(trace, references[combo.interaction], combo, settings.tolerance))
        except UserError:
            raise
        except Exception as exc:  # a crashing implementation is a failed check, not a crashed command
            report.checks.append(Check(combo, "error", reason=f"{type(exc).__name__}: {exc}"))
    return report


def _unavailable(case: "Case", registry: "Registry", host: "Host") -> str | None:
    for kind in ("backend", "embedding"):
        ref = getattr(case, kind)
        spec = registry.get(kind, ref.name)
        reason = spec.availability(host, case, spec.options.model_validate(ref.options))
        if reason:
            return f"{kind} {ref.name}: {reason}"
    return None
