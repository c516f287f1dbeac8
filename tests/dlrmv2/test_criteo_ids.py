"""Skewed synthetic ids (``id_distribution: criteo``): the generator's distinct ids per batch match real Criteo
rows, counted here independently (plain Python over the raw files), and uniform ids refuse the reference label."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

from dlrmbench_plugins.datasets._synthetic_impl import SyntheticDataset
from dlrmbench_plugins.datasets.id_profile import KAGGLE_CARDINALITIES, expected_distinct, exponents_for
from dlrmbench_plugins.datasets.synthetic import SyntheticOptions
from tests.conftest import REPO
_CANDIDATES = [os.environ.get("CRITEO_SAMPLE_DIR", ""), REPO.parent / "shared/data/criteo",
               REPO.parent.parent / "shared/data/criteo"]
DATA = next((Path(c) for c in _CANDIDATES if c and Path(c).is_dir()), None)
FIT_FILE = "autoint_train_examples_head10k.txt"
HELD_OUT_FILE = "deepfm_pytorch_optimization_test_10k_reconstructed.txt"
BATCHES = (1024, 4096)
LARGE = [f for f, n in enumerate(KAGGLE_CARDINALITIES) if n >= 50_000]  # where distinct rows matter: 8 features


def _real_distinct(name: str) -> dict[int, list[float]]:
    """Mean distinct values per feature in random batches of the real rows (without replacement, seeded)."""
    if DATA is None or not (DATA / name).is_file():
        pytest.skip(f"real Criteo rows not found ({name}; CRITEO_SAMPLE_DIR or ../shared/data/criteo)")
    rows = [line.rstrip("\n").split("\t")[14:40] for line in (DATA / name).open()]
    rng = random.Random(7)
    out = {}
    for batch in BATCHES:
        picks = [rng.sample(rows, batch) for _ in range(10)]
        out[batch] = [sum(len({r[f] for r in pick}) for pick in picks) / len(picks) for f in range(26)]
    return out


@pytest.fixture(scope="module")
def generated() -> dict[int, list[float]]:
    """Mean distinct ids per feature in the synthetic dataset's batches, tables at Kaggle's cardinalities."""
    options = SyntheticOptions(table_sizes=KAGGLE_CARDINALITIES, id_distribution="criteo", labels="random",
                               train_samples=4096 * 6, test_samples=4096, distinct_batches=6, num_numerical=1)
    dataset = SyntheticDataset(options)
    out = {}
    for batch in BATCHES:
        ids = [b.categorical for b in list(dataset.batches("train", batch, torch.device("cpu")))[:6]]
        assert all(int(x.min()) >= 0 and bool((x < torch.tensor(KAGGLE_CARDINALITIES)).all()) for x in ids)
        out[batch] = [sum(len(torch.unique(x[:, f])) for x in ids) / len(ids) for f in range(26)]
    return out


def test_generator_draws_the_fitted_distribution(generated: dict[int, list[float]]) -> None:
    exponents = exponents_for(KAGGLE_CARDINALITIES)
    for batch in BATCHES:
        for f in LARGE:
            expected = expected_distinct(exponents[f], KAGGLE_CARDINALITIES[f], batch)
            assert generated[batch][f] == pytest.approx(expected, rel=0.04), (f, batch)


def test_distinct_ids_per_batch_match_real_rows(generated: dict[int, list[float]]) -> None:
    """Within 8% of the rows the exponents were fitted on, within 15% of a held-out real sample (measured: the
    held-out rows have 6-12% more distinct values on these features than the fit rows); uniform ids give 1.3 to
    4 times as many."""
    for name, tolerance in ((FIT_FILE, 0.08), (HELD_OUT_FILE, 0.15)):
        real = _real_distinct(name)
        for batch in BATCHES:
            for f in LARGE:
                assert generated[batch][f] == pytest.approx(real[batch][f], rel=tolerance), (name, f, batch)
                n = KAGGLE_CARDINALITIES[f]
                uniform = n * (1 - (1 - 1 / n) ** batch)  # what uniform ids over the table give (~all distinct)
                assert real[batch][f] < 0.8 * uniform


def test_uniform_ids_stay_available_and_unchanged() -> None:
    options = SyntheticOptions(table_sizes=[1000, 7], train_samples=64, test_samples=64, num_numerical=1)
    assert options.id_distribution == "uniform"
    batch = next(iter(SyntheticDataset(options).batches("train", 64, torch.device("cpu"))))
    generator = torch.Generator().manual_seed(0 * 1_000_003 + 1)
    torch.rand(64, 1, generator=generator)  # the numerical features come first
    rows = torch.tensor([1000, 7])
    assert torch.equal(batch.categorical, torch.minimum((torch.rand(64, 2, generator=generator) * rows).long(), rows - 1))


def _resolved(id_distribution: str, reference: bool = True):
    from dlrmbench.config.loader import load_suite
    from dlrmbench.plugins import get_registry
    from dlrmbench.resolved import resolve_case

    case = next(c for c in load_suite(REPO / "suites" / "mlperf-dlrmv2.yaml").cases if c.mode == "train")
    dataset = case.dataset.model_copy(update={"options": {**case.dataset.options, "id_distribution": id_distribution}})
    update = {"dataset": dataset, **({} if reference else {"reference": None})}
    return resolve_case(case.model_copy(update=update), get_registry())[0].case


def test_dlrmv2_synthetic_throughput_is_comparable_only_with_skewed_ids() -> None:
    from dlrmbench.comparability import why_not_comparable
    from dlrmbench.results.compare import reference_value
    from dlrmbench.results.schema import CaseResult

    skewed = _resolved("criteo")
    assert skewed.comparable and skewed.not_comparable is None and skewed.reference.throughput
    uniform = _resolved("uniform")
    assert uniform.comparable is False
    assert uniform.not_comparable == ("synthetic uniform ids: almost every id of a batch is a distinct row, unlike "
                                      "Criteo's; set dataset.options.id_distribution: criteo")
    config = uniform.model_dump(mode="json")
    assert why_not_comparable(config) == "not comparable: " + uniform.not_comparable
    result = CaseResult(suite="s", run_id="r", case=uniform.name, status="ok", config=config)
    assert reference_value(result, "train_throughput") == (None, None)  # no ratio to the published throughput
    assert _resolved("uniform", reference=False).comparable  # nothing published to compare with: no label


def test_compare_shows_the_reason_instead_of_a_reference_ratio(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from dlrmbench.cli import make_cli
    from tests.core.test_compare import make_run

    run_dir = make_run(tmp_path, "r1", {"a": [100.0]}, reference=400)
    case_file = next((run_dir / "cases").glob("*.json"))
    result = json.loads(case_file.read_text())
    result["config"].update(comparable=False, not_comparable="synthetic uniform ids: set id_distribution: criteo")
    case_file.write_text(json.dumps(result))
    out = CliRunner().invoke(make_cli(), ["compare", str(run_dir)], env={"COLUMNS": "400"}).output
    assert "not comparable: synthetic uniform ids: set id_distribution: criteo" in out
    assert "vs ref" not in out and "Scaled-down cases" not in out
