"""Variants of a loaded suite's cases chosen on the command line: ``--scale-down`` and ``--dataset-path``.

``scale_down`` keeps a case's shape (model, precision family, mode) but shrinks it until it runs in
seconds on whatever this machine has: tables capped at :data:`SCALED_ROWS` rows, a small batch, a few
steps, and the CPU when there is no GPU. A scaled-down case is marked ``comparable: false`` and
tagged ``scaled_down``, so no view ever sets its numbers against the published reference.

``with_dataset_path`` points a case at a dataset directory (any format a dataset plugin declares).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.host import Host
from dlrmbench.precisions import PRECISIONS

if TYPE_CHECKING:
    from dlrmbench.plugins import Registry

SCALED_ROWS = 20_000
SCALED_BATCH = 512
SCALED_STEPS = 24
SCALED_WARMUP = 4
SCALED_MAX_INFERENCE_BATCH = 4096
SCALED_TIMEOUT_S = 900.0
SCALED_SERVE_SECONDS = 0.5  # per serving cell
SCALED_LOADGEN_SAMPLES = 64  # LoadGen's sample library
CPU_PRECISION = {name: row.cpu_stand_in for name, row in PRECISIONS.items()}


def _registry(registry: "Registry | None") -> "Registry":
    if registry is not None:
        return registry
    from dlrmbench.plugins import get_registry  # the CLI passes its registry; tests may not

    return get_registry()


def scale_down(case: Case, host: Host, registry: "Registry | None" = None) -> Case:
    """A CPU-sized, not-comparable version of ``case`` (fewer rows, a smaller batch, fewer steps).

    A dataset plugin that generates its data declares how it shrinks (``PluginSpec.scale_down``);
    any other dataset keeps its files and the ids are folded into the smaller tables.
    """
    data = case.variant_data()
    tags = dict(case.tags)
    tags["scaled_down"] = f"from {case.world_size} x {case.device}, {case.precision}, batch {case.batch_size}"
    batch = min(case.batch_size, SCALED_BATCH)
    data.update(batch_size=batch, test_batch_size=batch, max_steps=SCALED_STEPS,
                benchmark_warmup_steps=SCALED_WARMUP, test_batches=4, test_freq=None,
                timeout_s=min(case.timeout_s, SCALED_TIMEOUT_S), comparable=False, auc_threshold=None)
    model = data["model"]
    registry = _registry(registry)
    family = registry.get("family", case.model.family)
    dataset = case.dataset.name if case.names_plugin("dataset") else family.defaults.get("dataset", case.dataset.name)
    spec = registry.get("dataset", dataset)
    test_rows = batch * 4
    loadgen = case.mode == "serve" and case.serve is not None and case.serve.scenario is not None
    if loadgen:  # fewer LoadGen samples, and test rows enough for them (up to 700 rows each for dlrmv2)
        assert case.serve is not None
        samples = min(case.serve.samples, SCALED_LOADGEN_SAMPLES)
        data["serve"] = {**data["serve"], "samples": samples}
        per_sample = 700 if case.serve.aggregation == "dlrmv2" else case.serve.rows_per_sample
        test_rows = max(test_rows, samples * per_sample)
    if spec.scale_down is not None:  # the data is generated: generate less of it, for smaller tables
        if model.get("table_sizes"):  # a family without tables (its model block has no such key)
            model["table_sizes"] = [min(rows, SCALED_ROWS) for rows in model["table_sizes"]]
        given = case.dataset.options if case.names_plugin("dataset") else {}
        options = spec.scale_down(dict(given), SCALED_ROWS, (batch * SCALED_STEPS, test_rows))
        data["dataset"] = {"name": dataset, "options": options}
    elif "max_table_size" in family.options.model_fields:  # real data: ids above the cap fold into smaller tables
        model["hash_indices"] = True
        model["max_table_size"] = SCALED_ROWS
    if case.mode == "inference":
        sizes = [bs for bs in case.inference.batch_sizes if bs <= SCALED_MAX_INFERENCE_BATCH]
        data["inference"] = {**data["inference"], "batch_sizes": sizes or [min(case.inference.batch_sizes)],
                             "steps": 20, "warmup_steps": 5}
    if case.mode == "serve" and case.serve is not None and case.serve.scenario is not None:
        data["serve"] = {**data["serve"], "short": True}
        tags["loadgen"] = SHORT_TAG
    elif case.mode == "serve" and case.serve is not None:
        sizes = [bs for bs in case.serve.batch_sizes if bs <= SCALED_MAX_INFERENCE_BATCH]
        data["serve"] = {**data["serve"], "batch_sizes": sizes or [min(case.serve.batch_sizes)],
                         "duration_s": min(case.serve.duration_s, SCALED_SERVE_SECONDS),
                         "warmup": min(case.serve.warmup, 2)}
    if case.device == "cuda" and host.cuda_devices >= 1:
        data["gpus"] = min(case.gpus, host.cuda_devices)
    elif case.device == "cuda":
        data.update(device="cpu", gpus=1, processes=1, precision=CPU_PRECISION[case.precision])
        data["inference"]["cuda_graphs"] = False
        tags["scaled_down"] += "; on the CPU (no CUDA GPU here)"
    data["tags"] = tags
    return Case.model_validate(data)


SHORT_TAG = "short: seconds-long LoadGen runs, not valid for submission"


def shorten(case: Case) -> Case:
    """``--short``: a LoadGen serving case that runs for seconds, marked not comparable and not valid for
    submission; any other case is returned unchanged."""
    if case.mode != "serve" or case.serve is None or case.serve.scenario is None:
        return case
    serve = case.serve.model_copy(update={"short": True})
    return case.model_copy(update={"serve": serve, "comparable": False,
                                   "tags": {**case.tags, "loadgen": SHORT_TAG}})


def with_dataset_path(case: Case, path: Path, plugin: str = "split") -> Case:
    """``case`` reading the dataset at ``path`` through the ``plugin`` dataset. A case that already reads that
    plugin keeps its own options (batch order, shuffle seed, prefetch...) with the new path; another plugin's
    options (a synthetic generator's) do not apply to the files and are dropped."""
    data = case.variant_data()
    options = dict(case.dataset.options) if case.dataset.name == plugin else {}
    data["dataset"] = {"name": plugin, "options": {**options, "path": str(path)}}
    data["tags"] = {**case.tags, "data": f"criteo ({plugin}: {path})"}
    return Case.model_validate(data)


def dataset_of(path: Path, registry: "Registry | None" = None) -> tuple[str, list[int] | None]:
    """The dataset plugin whose on-disk format ``path`` holds (every registered format's detector is
    asked, highest priority first) and its table sizes."""
    if not path.is_dir():
        raise UserError(f"--dataset-path {path}: no such directory (give a preprocessed Criteo dataset, e.g. the "
                        "output of 'dlrmbench preprocess')")
    specs = _registry(registry).formats()
    for spec in specs:
        assert spec.format is not None
        if spec.format.detect(path):
            return spec.name, spec.format.table_sizes(path)
    from dlrmbench.data.open import detect_format

    detect_format(path)  # raises the built-in formats' explanation of what the directory holds
    raise UserError(f"--dataset-path {path}: no dataset plugin recognises it (formats: "
                    f"{', '.join(s.name for s in specs)})")


def _sizes_text(sizes: list[int] | None) -> str:
    return "table sizes from the data" if sizes is None else f"{len(sizes)} tables, {sum(sizes):,} rows"


def _declared_sizes(case: Case) -> list[int] | None:
    """The table sizes the case's model block gives (a family without tables gives none)."""
    return getattr(case.model, "table_sizes", None)


def assign_datasets(cases: list[Case], paths: list[Path], registry: "Registry | None" = None,
                    allow_synthetic: bool = False) -> tuple[list[Case], list[str]]:
    """Point every case at the given dataset whose table sizes equal the case's ``model.table_sizes``.

    The DGX suites mix the small (FL15) and the large (FL3) model, so one suite may need two datasets:
    ``--dataset-path`` is repeatable and each case takes the matching one. A single dataset without
    ``model_size.json`` (binary format) is used by every case, and a single dataset by every case whose
    table sizes come from the data (``model.table_sizes`` unset). Cases left without data keep synthetic
    batches; the returned notes say which. A dataset that no case takes is an error (the user asked for
    real data and would get none), naming its table sizes and the cases', unless ``allow_synthetic``.
    """
    registry = _registry(registry)
    found = [(path, *dataset_of(path, registry)) for path in paths]
    notes: list[str] = []
    out = []
    for case in cases:
        # one dataset without model_size.json, or a case that takes its table sizes from the data, takes the
        # single dataset given; otherwise the dataset whose model_size.json has the case's table sizes; only
        # a format whose dataset plugin serves the case's family
        declared = _declared_sizes(case)
        matches = [(path, fmt) for path, fmt, sizes in found
                   if registry.get("dataset", fmt).serves(case.model.family)
                   and ((sizes is None or declared is None) and len(found) == 1
                        or (sizes is not None and sizes == declared))]
        if matches:
            path, fmt = matches[0]
            out.append(with_dataset_path(case, path, fmt))
        else:
            out.append(case)
            notes.append(f"{case.name}: no --dataset-path has its {len(declared or [])} table sizes "
                         f"({sum(declared or []):,} rows); it runs on synthetic data")
    used = {c.dataset.options.get("path") for c in out}
    unused = [(path, sizes) for path, _, sizes in found if str(path) not in used]
    if unused and not allow_synthetic:
        suite_sizes: dict[str, list[str]] = {}
        for case in cases:
            suite_sizes.setdefault(_sizes_text(_declared_sizes(case)), []).append(case.name)
        wanted = "; ".join(f"{text} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
                           for text, names in suite_sizes.items())
        raise UserError("\n".join(
            f"--dataset-path {path}: its model_size.json has {_sizes_text(sizes)}, which matches no case; the cases "
            f"have {wanted}. Give the dataset preprocessed for these tables (dlrmbench preprocess with the suite's "
            "--frequency-threshold), or add --allow-synthetic to run the cases on synthetic data anyway"
            for path, sizes in unused))
    return out, notes


#: Case fields that name or describe a case without changing what it runs.
LABEL_FIELDS = ("name", "tags", "reference", "comparable", "auc_comparable")


def identical_groups(cases: list[Case]) -> list[list[str]]:
    """Names of cases that run the same thing (every field but the labels equal), groups of two or more."""
    groups: dict[str, list[str]] = {}
    for case in cases:
        groups.setdefault(case.model_dump_json(exclude=set(LABEL_FIELDS)), []).append(case.name)
    return [names for names in groups.values() if len(names) > 1]


def scale_down_notes(before: list[Case], after: list[Case]) -> list[str]:
    """What ``--scale-down`` changed in each case, and which cases it made identical."""
    notes = []
    for old, new in zip(before, after):
        notes.append(f"{old.name} scaled down: {old.world_size} x {old.device}, {old.precision}, batch {old.batch_size:,}"
                     f" -> {new.world_size} x {new.device}, {new.precision}, batch {new.batch_size:,}, "
                     f"{new.max_steps} steps")
    for names in identical_groups(after):
        notes.append(f"{', '.join(names)} became the same case when scaled down: their figures differ only by noise")
    return notes


def mark_identical(cases: list[Case]) -> list[Case]:
    """Each case that another one duplicates carries the tag ``same_as`` (the other names), kept in its result."""
    same: dict[str, str] = {}
    for names in identical_groups(cases):
        for name in names:
            same[name] = ", ".join(n for n in names if n != name)
    return [c.model_copy(update={"tags": {**c.tags, "same_as": same[c.name]}}) if c.name in same else c for c in cases]


def apply_variants(cases: list[Case], host: Host, scale: bool = False,
                   dataset_paths: list[Path] | tuple[Path, ...] = (), registry: "Registry | None" = None,
                   allow_synthetic: bool = False) -> tuple[list[Case], list[str]]:
    """Apply the command line's variants to every case; returns the cases and notes for the user."""
    notes: list[str] = []
    if dataset_paths:
        cases, notes = assign_datasets(cases, list(dataset_paths), registry, allow_synthetic)
    if scale:
        scaled = mark_identical([scale_down(c, host, registry) for c in cases])
        notes += scale_down_notes(cases, scaled)
        cases = scaled
    return cases, notes
