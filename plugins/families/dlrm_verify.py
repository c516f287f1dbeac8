"""The DLRM family's ``dlrmbench verify``: prove every backend x embedding x interaction computes the same function.

Every available combination is built on one small random DLRM from the same seed (``build_dlrm``
draws all initial weights from one generator in a fixed order, so every implementation starts from
the same numbers), trained for a few steps on the same batches, and compared with a reference: the
largest relative difference of the outputs of every step, of the losses, and of every updated parameter.

* ``dot``, ``cat`` and other interactions (the 2020 DLRM): one-hot batches, SGD (sparse embedding
  gradients), against eager + multi_table of the same interaction at the same precision.
* ``dcnv2`` (MLPerf DLRMv2): multi-hot batches (``multi_hot_sizes`` ids per feature, rows repeated
  within and across bags), the ``adagrad`` optimizer plugin (exact row-sparse tables), against a
  float64 computation: eager + multi_table in float64 with Adagrad written out here
  (``G += g^2; w -= lr g / (sqrt(G) + eps)`` on the dense gradient), independent of the plugin's update.
  In fp32 only: Adagrad's first step is ``lr * sign(g)``, so bf16/amp rounding flips the sign of the
  near-zero gradients and no tolerance tells a bug from rounding; under ``--precision amp|bf16``
  ``dcnv2`` is checked like the other interactions.

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
DLRMV2_INTERACTION = "dcnv2"  # verified as DLRMv2 trains: multi-hot ids, Adagrad, float64 reference


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
    multi_hot_sizes: tuple[int, ...] = (3, 1, 4, 2)  # ids per feature in the dcnv2 (DLRMv2) checks
    adagrad_lr: float = 0.01
    dcnv2_options: tuple[tuple[str, int], ...] = (("layers", 2), ("low_rank", 8))

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


def dlrmv2_check(settings: VerifySettings, combo: Combination) -> bool:
    """Whether ``combo`` is checked as DLRMv2 trains (multi-hot, Adagrad) against the float64 reference."""
    return combo.interaction == DLRMV2_INTERACTION and settings.precision == "fp32"


def make_case(settings: VerifySettings, combo: Combination, options: dict[str, dict[str, Any]]) -> "Case":
    from dlrmbench.config.schema import Case, ModelConfig, OptimizerConfig, PluginRef

    interaction = PluginRef(name=combo.interaction,
                            options=dict(settings.dcnv2_options) if combo.interaction == DLRMV2_INTERACTION else {})
    optimizer = (OptimizerConfig(name="adagrad", lr=settings.adagrad_lr, warmup_steps=0, decay_start_step=0,
                                 decay_steps=0) if dlrmv2_check(settings, combo) else OptimizerConfig(lr=settings.lr))
    return Case(
        name="verify",
        device=settings.device,  # type: ignore[arg-type]
        precision=settings.precision,
        backend=PluginRef(name=combo.backend, options=options.get(combo.backend, {})),
        embedding=PluginRef(name=combo.embedding, options=options.get(combo.embedding, {})),
        batch_size=settings.batch_size,
        seed=settings.seed,
        optimizer=optimizer,
        model=ModelConfig(
            bottom_mlp=list(settings.bottom_mlp), top_mlp=list(settings.top_mlp),
            embedding_dim=settings.embedding_dim, interaction=interaction,
            table_sizes=list(settings.table_sizes), num_numerical=settings.num_numerical,
        ),
    )


def plugin_options(spec: "PluginSpec", device: str) -> dict[str, Any]:
    """Options a plugin gets in verify: ``interpret: true`` on the CPU for plugins that have it."""
    if device == "cpu" and "interpret" in spec.options.model_fields:
        return {"interpret": True}
    return {}


def make_batches(settings: VerifySettings, multi_hot: bool = False) -> list[tuple[Any, Any, Any]]:
    """``steps`` batches of (numerical, categorical, label), drawn from the seed on the CPU; with
    ``multi_hot``, categorical is :class:`SparseFeatures` of ``multi_hot_sizes`` ids per feature (tables
    are small, so rows repeat within a bag and across the batch: the exact update must sum them)."""
    import torch

    from dlrmbench.batch import SparseFeatures

    if multi_hot and len(settings.multi_hot_sizes) != len(settings.table_sizes):
        raise UserError(f"multi_hot_sizes has {len(settings.multi_hot_sizes)} entries for "
                        f"{len(settings.table_sizes)} tables; give one per table")
    generator = torch.Generator().manual_seed(settings.seed + 1)
    sizes = torch.tensor(settings.table_sizes)
    batches = []
    for _ in range(settings.steps):
        numerical = torch.randn(settings.batch_size, settings.num_numerical, generator=generator)
        categorical: Any
        if multi_hot:
            categorical = SparseFeatures.from_fixed([
                torch.randint(0, rows, (settings.batch_size, hot), generator=generator)
                for rows, hot in zip(settings.table_sizes, settings.multi_hot_sizes)])
        else:
            unit = torch.rand(settings.batch_size, len(settings.table_sizes), generator=generator,
                              dtype=torch.float64)
            categorical = (unit * sizes).long().clamp_max(sizes - 1)
        label = torch.randint(0, 2, (settings.batch_size,), generator=generator).float()
        batches.append((numerical, categorical, label))
    return batches


def canonical_parameters(model: Any, dtype: "torch.dtype | None" = None) -> dict[str, "torch.Tensor"]:
    """Parameters under implementation-independent names.

    The dense parts keep their parameter order (every backend's MLPs hold weight, bias per layer);
    an embedding strategy's tables are concatenated row-wise into one ``(sum(rows), D)`` matrix
    (one table per feature or one joint table give the same matrix). ``dtype``: float32 unless given.
    """
    import torch

    dtype = dtype or torch.float32
    out: dict[str, torch.Tensor] = {}
    for part in ("bottom_mlp", "interaction", "top_mlp", "out"):
        for i, p in enumerate(getattr(model, part).parameters()):
            out[f"{part}.{i}"] = p.detach().to(dtype).cpu()
    dim = model.embeddings.dim
    tables = [p.detach().to(dtype).cpu().reshape(-1, dim) for p in model.embeddings.parameters()]
    out["embeddings"] = torch.cat(tables) if tables else torch.zeros(0, dim, dtype=dtype)
    return out


def run_combination(case: "Case", batches: list[Any], lr: float) -> Trace:
    """Build ``case``'s model and train it on ``batches`` with the case's optimizer plugin (SGD, or
    Adagrad for DLRMv2) at a constant ``lr``, through the training loop's own step; return what it computed."""
    import torch

    from dlrmbench.batch import Batch
    from dlrmbench.workload.build import build_family, build_model, case_device, resolve
    from dlrmbench.workload.precision import apply_precision
    from dlrmbench.workload.train import make_optimizer, train_step

    device = case_device(case)
    resolved = resolve(case)
    family = build_family(resolved)
    model = build_model(resolved, list(case.model.table_sizes or []), family).to(device)
    policy = apply_precision(case, device)
    scale = policy.static_loss_scale
    optimizer = make_optimizer(resolved, model)
    for group in optimizer.param_groups:
        group["lr"] = lr / scale
    if getattr(model.embeddings, "applies_own_optimizer", False):
        model.embeddings.set_learning_rate(lr / scale)  # it updates its tables inside backward
    outputs, losses = [], []
    model.train()
    for numerical, categorical, label in batches:
        batch = Batch(numerical, categorical, label).to(device)
        logits, loss = train_step(model, batch, family.target(batch), optimizer, family, policy, scale)
        outputs.append(logits.detach().float().cpu())
        losses.append(loss.detach().float().cpu())
    return Trace(torch.stack(outputs), torch.stack(losses), canonical_parameters(model))


def run_float64_reference(case: "Case", batches: list[Any], lr: float, eps: float) -> Trace:
    """The float64 reference of a DLRMv2 check: eager + multi_table built from ``case``'s seed (the same
    initial weights as every combination), cast to float64, trained on ``batches`` with Adagrad written
    out here on the dense gradient (accumulators from 0; duplicate rows summed by the gradient itself)."""
    import torch

    from dlrmbench.config.schema import PluginRef
    from dlrmbench.workload.build import build_model, resolve

    reference = case.model_copy(update={"backend": PluginRef(name=REFERENCE[0]), "precision": "fp32",
                                        "embedding": PluginRef(name=REFERENCE[1]), "device": "cpu"})
    model = build_model(resolve(reference), list(case.model.table_sizes or [])).double()
    params = [p for p in model.parameters() if p.requires_grad]
    sums = [torch.zeros_like(p) for p in params]
    loss_fn = torch.nn.BCEWithLogitsLoss()
    outputs, losses = [], []
    model.train()
    for numerical, categorical, label in batches:
        logits = model(numerical.double(), categorical)
        loss = loss_fn(logits, label.double())
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, s in zip(params, grads, sums):
                g = g.to_dense() if g.is_sparse else g
                s.add_(g * g)
                p.sub_(lr * g / (s.sqrt() + eps))
        outputs.append(logits.detach())
        losses.append(loss.detach())
    return Trace(torch.stack(outputs), torch.stack(losses), canonical_parameters(model, torch.float64))


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
    multi_hot_batches = make_batches(settings, multi_hot=True)
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
                references[combo.interaction] = reference_trace(settings, combo, options)
            lr = settings.adagrad_lr if dlrmv2_check(settings, combo) else settings.lr
            trace = run_combination(case, multi_hot_batches if dlrmv2_check(settings, combo) else batches, lr)
            report.checks.append(compare(trace, references[combo.interaction], combo, settings.tolerance))
        except UserError:
            raise
        except Exception as exc:  # a crashing implementation is a failed check, not a crashed command
            report.checks.append(Check(combo, "error", reason=f"{type(exc).__name__}: {exc}"))
    return report


def reference_trace(settings: VerifySettings, combo: Combination, options: dict[str, dict[str, Any]]) -> Trace:
    """What ``combo``'s interaction is compared with: eager + multi_table at the settings' precision
    (SGD, one-hot), or for DLRMv2 the float64 computation (Adagrad, multi-hot)."""
    reference = make_case(settings, Combination(*REFERENCE, combo.interaction), options)
    if dlrmv2_check(settings, combo):
        from dlrmbench.model.adagrad import ADAGRAD_EPS

        return run_float64_reference(reference, make_batches(settings, multi_hot=True), settings.adagrad_lr,
                                     ADAGRAD_EPS)
    return run_combination(reference, make_batches(settings), settings.lr)


def _unavailable(case: "Case", registry: "Registry", host: "Host") -> str | None:
    for kind in ("backend", "embedding"):
        ref = getattr(case, kind)
        spec = registry.get(kind, ref.name)
        reason = spec.availability(host, case, spec.options.model_validate(ref.options))
        if reason:
            return f"{kind} {ref.name}: {reason}"
    if case.optimizer.name == "adagrad":  # a DLRMv2 check: multi-hot ids and the adagrad plugin
        if not registry.get("embedding", case.embedding.name).multi_hot:
            return f"embedding {case.embedding.name}: multi-hot is not supported by this strategy (one id per feature)"
        spec = registry.get("optimizer", case.optimizer.name)
        reason = spec.availability(host, case, spec.options.model_validate(case.optimizer.options))
        if reason:
            return f"optimizer {case.optimizer.name}: {reason}"
    return None


# --- What ``dlrmbench verify`` prints for the DLRM family ------------------------------------------

def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2e}"


def reasons_of(report: object) -> list[str]:
    """The distinct reasons of the checks that did not pass, in order of first appearance."""
    return list(dict.fromkeys(c.reason for c in report.checks if c.reason and c.status != "pass"))  # type: ignore[attr-defined]


def render(report: object, console: Any = None) -> None:
    """Print the verdicts as a table (stacked when it does not fit); each distinct reason once, numbered,
    under the table, and the rows refer to it by number."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dlrmbench.report.terminal import fits, print_plain
    from dlrmbench_plugins.families.dlrm_verify import VerifyReport

    assert isinstance(report, VerifyReport)
    s = report.settings
    dlrmv2 = ("; dcnv2: multi-hot ids, Adagrad steps, vs a float64 computation" if s.precision == "fp32" else "")
    title = (f"dlrmbench verify: {s.device}, {s.precision}, {s.steps} steps, batch {s.batch_size}; largest "
             f"relative difference vs eager + multi_table with SGD{dlrmv2} (tolerance {s.tolerance:g})")
    reasons = reasons_of(report)
    table = Table(title=Text(title), title_justify="left")
    for column in ("backend", "embedding", "interaction", "outputs", "losses", "parameters", "result"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("outputs", "losses", "parameters") else "left")
    style = {"pass": "green", "fail": "red", "error": "red", "unavailable": "yellow"}
    rows = []
    for check in report.checks:
        c = check.combination
        result = {"fail": "FAIL", "error": "ERROR"}.get(check.status, check.status)
        if check.status == "fail" and check.worst_parameter:
            result += f" (worst parameter: {check.worst_parameter})"
        if check.reason and check.status != "pass":
            result += f" [reason {reasons.index(check.reason) + 1}]"
        rows.append((c.backend, c.embedding, c.interaction, _fmt(check.outputs), _fmt(check.losses),
                     _fmt(check.parameters), result, check.status))
        table.add_row(*(Text(v) for v in rows[-1][:6]), Text(result, style=style[check.status]))
    console = console or Console()
    if fits(console, table):
        console.print(table)
    else:
        lines = [title]
        for backend, embedding, interaction, outputs, losses, parameters, result, _ in rows:
            lines.append(f"- {backend} + {embedding} + {interaction}: {result}")
            if outputs:
                lines.append(f"    outputs {outputs}, losses {losses}, parameters {parameters}")
        print_plain(console, lines)
    if reasons:
        print_plain(console, ["Reasons:"] + [f"  [{i + 1}] {reason}" for i, reason in enumerate(reasons)])
    failed = [c for c in report.checks if c.failed]
    checked = [c for c in report.checks if c.status in ("pass", "fail", "error")]
    if failed:
        console.print(f"[red]{len(failed)} of {len(checked)} checked combinations failed.[/]")
    else:
        console.print(f"[green]All {len(checked)} checked combinations match the reference.[/]")


def to_json(report: object) -> str:
    """``dlrmbench.verify``: settings, verdict, the distinct reasons, and one record per combination."""
    from dataclasses import asdict, is_dataclass

    from dlrmbench.report.jsonout import document
    from dlrmbench_plugins.families.dlrm_verify import dlrmv2_check

    reasons = reasons_of(report)
    settings = report.settings  # type: ignore[attr-defined]
    checks = []
    for check in report.checks:  # type: ignore[attr-defined]
        c = check.combination
        checks.append({"backend": c.backend, "embedding": c.embedding, "interaction": c.interaction,
                       "reference": "float64" if dlrmv2_check(settings, c) else "eager+multi_table",
                       "status": check.status, "outputs": check.outputs, "losses": check.losses,
                       "parameters": check.parameters, "worst_parameter": check.worst_parameter,
                       "reason": reasons.index(check.reason) if check.reason and check.status != "pass" else None})
    return document("dlrmbench.verify", settings={**(asdict(settings) if is_dataclass(settings) else {}),
                                                  "tolerance": settings.tolerance},
                    ok=report.ok, reasons=reasons, checks=checks)  # type: ignore[attr-defined]


class FamilyVerification:
    """The DLRM family's verification as the ``verify`` command reads every family's (``ok``,
    ``render(console)``, ``document()``)."""

    def __init__(self, report: VerifyReport) -> None:
        self.report = report

    @property
    def ok(self) -> bool:
        return self.report.ok

    def render(self, console: Any = None) -> None:
        render(self.report, console)

    def document(self) -> str:
        return to_json(self.report)


def family_rows(device: str, precision: str, steps: int) -> FamilyVerification:
    """The DLRM family's ``PluginSpec.verify``: every backend x embedding x interaction against eager +
    multi_table (fp32: dcnv2 with multi-hot ids and Adagrad against float64)."""
    return FamilyVerification(verify(VerifySettings(device=device, precision=precision, steps=steps)))  # type: ignore[arg-type]
