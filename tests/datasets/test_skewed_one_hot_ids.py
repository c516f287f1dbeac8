"""Skewed one-hot ids (``id_distribution: criteo`` without multi-hot), as NVIDIA's 2020 suites use them: the
batches generated on the device and the split files written on disk both have the distinct rows per batch the
fitted profile predicts (counted here over the batches, against ``expected_distinct``), and a one-hot synthetic
case with a published reference row is comparable only with skewed ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlrmbench_plugins.datasets._synthetic_impl import SyntheticDataset
from dlrmbench_plugins.datasets.id_profile import expected_distinct, exponents_for
from dlrmbench_plugins.datasets.synthetic import SyntheticOptions
from tests.conftest import REPO

# five tables of NVIDIA's FL15 ("small") model: the largest, two mid-size, two that saturate
TABLES = [7_912_889, 582_469, 33_823, 1_382, 4]
BATCH = 4096
BATCHES = 6
NVIDIA_SUITES = ("dgx1.yaml", "dgx2.yaml", "dgxa100.yaml", "h100.yaml")
REASON = ("synthetic uniform ids: almost every id of a batch is a distinct row, unlike Criteo's; set "
          "dataset.options.id_distribution: criteo")


def _mean_distinct(dataset: SyntheticDataset) -> list[float]:
    batches = list(dataset.batches("train", BATCH, torch.device("cpu")))[:BATCHES]
    assert len(batches) == BATCHES
    ids = [b.categorical for b in batches]
    assert all(x.shape == (BATCH, len(TABLES)) and int(x.min()) >= 0 and bool((x < torch.tensor(TABLES)).all())
               for x in ids)
    return [sum(len(torch.unique(x[:, t])) for x in ids) / len(ids) for t in range(len(TABLES))]


@pytest.mark.parametrize("on", ["device", "disk"])
def test_one_hot_batches_have_the_profiles_distinct_rows(on: str, tmp_path: Path) -> None:
    extra = {"dir": str(tmp_path / "split")} if on == "disk" else {"distinct_batches": BATCHES}
    options = SyntheticOptions(table_sizes=TABLES, id_distribution="criteo", labels="random", on=on,
                               train_samples=BATCH * BATCHES, test_samples=BATCH, **extra)
    dataset = SyntheticDataset(options)
    if on == "disk":  # read back through the split reader, from files the generator wrote
        assert dataset.bytes_read() is not None and (tmp_path / "split" / "train").is_dir()
    generated = _mean_distinct(dataset)
    for t, (rows, s) in enumerate(zip(TABLES, exponents_for(TABLES))):
        assert generated[t] == pytest.approx(expected_distinct(s, rows, BATCH), rel=0.04), (on, rows)
    uniform = TABLES[0] * (1 - (1 - 1 / TABLES[0]) ** BATCH)  # ~4095: uniform ids over 7.9M rows
    assert generated[0] < 0.7 * uniform
    assert generated[-1] == 4  # a 4-row table saturates either way


def test_on_disk_files_are_rewritten_when_the_id_distribution_changes(tmp_path: Path) -> None:
    """The files are reused while the generating options match: skewed and uniform ids never share them."""
    common = dict(table_sizes=[1_000_000], labels="random", on="disk", dir=str(tmp_path / "split"),
                  train_samples=BATCH, test_samples=BATCH)
    skewed = SyntheticDataset(SyntheticOptions(id_distribution="criteo", **common))
    first = next(iter(skewed.batches("train", BATCH, torch.device("cpu")))).categorical
    uniform = SyntheticDataset(SyntheticOptions(**common))
    second = next(iter(uniform.batches("train", BATCH, torch.device("cpu")))).categorical
    assert len(torch.unique(first)) < 0.8 * len(torch.unique(second))


def _nvidia_cases() -> list:
    from dlrmbench.config.loader import load_suite

    return [(path, case) for path in NVIDIA_SUITES for case in load_suite(REPO / "suites" / path).cases]


def test_nvidia_suites_draw_criteo_ids_for_every_reference_row() -> None:
    """NVIDIA measured every row of its tables on Criteo 1TB (facts sheet 9): the synthetic default of each
    case that carries a row draws skewed ids, and is planned comparable."""
    from dlrmbench.plugins import get_registry
    from dlrmbench.resolved import resolve_case

    cases = _nvidia_cases()
    assert len(cases) == 21
    for path, case in cases:
        assert case.reference is not None and case.dataset.name == "synthetic" and not case.dataset.options.get(
            "multi_hot_sizes"), (path, case.name)
        assert case.dataset.options.get("id_distribution") == "criteo", (path, case.name)
        resolved = resolve_case(case, get_registry())[0].case
        assert resolved.comparable and resolved.not_comparable is None, (path, case.name)


def test_a_one_hot_uniform_case_with_a_reference_row_is_not_comparable() -> None:
    from dlrmbench.plugins import get_registry
    from dlrmbench.resolved import resolve_case

    _, case = next(c for c in _nvidia_cases() if c[1].name == "train-1gpu-small-tf32")
    dataset = case.dataset.model_copy(update={"options": {**case.dataset.options, "id_distribution": "uniform"}})
    uniform = resolve_case(case.model_copy(update={"dataset": dataset}), get_registry())[0].case
    assert uniform.comparable is False and uniform.not_comparable == REASON
    unpublished = resolve_case(case.model_copy(update={"dataset": dataset, "reference": None}), get_registry())[0].case
    assert unpublished.comparable and unpublished.not_comparable is None  # nothing published: no label


@pytest.mark.parametrize("preset,batch,worst,overall", [("criteo_fl3", 65536, 0.059, 0.032),
                                                        ("criteo_fl15", 32768, 0.116, 0.049)])
def test_the_law_over_nvidia_thresholded_tables_is_close_to_the_thresholded_law(preset: str, batch: int,
                                                                                worst: float, overall: float) -> None:
    """docs/dlrmv2.md: drawing over a thresholded table's own rows errs at most +5.9% (FL3) / +11.6% (FL15) per
    table, +3.2% / +4.9% in all, against the law over all of Criteo 1TB's values with the rare ones folded into
    row 0 as NVIDIA's preprocessing folds them; high, never more than 1% low."""
    from dlrmbench.config.presets import TABLE_SIZE_PRESETS
    from dlrmbench_plugins.datasets.id_profile import CRITEO_1TB_VALUES, thresholded_distinct

    sizes = list(TABLE_SIZE_PRESETS[preset])
    ours = [expected_distinct(s, rows, batch) for rows, s in zip(sizes, exponents_for(sizes))]
    theirs = [thresholded_distinct(s, rows, values, batch)
              for rows, s, values in zip(sizes, exponents_for(sizes), CRITEO_1TB_VALUES)]
    errors = [a / b - 1 for a, b in zip(ours, theirs)]
    assert max(errors) == pytest.approx(worst, abs=0.0005) and min(errors) > -0.01
    assert sum(ours) / sum(theirs) - 1 == pytest.approx(overall, abs=0.0005)
    # the folding matters only where it moves mass: a table holding every value is the law itself
    assert thresholded_distinct(1.04, 1000, 999, 512) == pytest.approx(expected_distinct(1.04, 999, 512), rel=1e-3)
