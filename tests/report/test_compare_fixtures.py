"""``compare`` on the committed fixture result sets (tests/fixtures/results, made by make_results.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.report import renderings
from dlrmbench.results.compare import compare
from dlrmbench.results.load import load_results

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"
REF_16_FP32, REF_16_AMP = 4567478, 11208483  # facts sheet 9.3, DGX-2


def load(name: str):
    return load_results([FIXTURES / name]).sets[0]


@pytest.fixture(scope="module")
def against_baseline():
    return compare([load("candidate"), load("single"), load("scaled")], load("baseline"))


def cell(comparison, case: str, set_name: str):
    row = next(r for r in comparison.rows if r.case == case)
    label = next(label for label in comparison.sets if label.endswith(set_name))
    return row.cells[label]


def test_medians_spreads_and_reference_ratios(against_baseline) -> None:
    c = cell(against_baseline, "train-16gpu-large-fp32", "bbbbbb")
    assert c.value == 5.0e6 and c.repeats == 3
    assert c.rel_spread == pytest.approx(0.1e6 / 5.0e6)
    assert c.vs_reference == pytest.approx(5.0e6 / REF_16_FP32)
    base = cell(against_baseline, "train-16gpu-large-amp", "aaaaaa")
    assert base.vs_reference == pytest.approx(11.1e6 / REF_16_AMP)


def test_runs_whose_gpu_slowed_down_are_inconclusive_never_flagged(against_baseline) -> None:
    """In the fixtures every run's GPU slowed down (power cap) in 1 of 13 telemetry samples, above the 5% noise
    threshold: every run is noisy, so the ratios are shown but the verdicts are inconclusive, never flagged."""
    improved = cell(against_baseline, "train-16gpu-large-fp32", "bbbbbb")
    assert improved.vs_baseline == pytest.approx(5.0 / 4.5) and improved.flag is None
    assert improved.verdict == "inconclusive"
    assert improved.note == ("inconclusive (noisy: a GPU slowed down in 8% of samples (sw_power_cap); "
                             "0 vs 0 quiet runs)")
    regressed = cell(against_baseline, "train-16gpu-large-amp", "bbbbbb")
    assert regressed.vs_baseline == pytest.approx(10.1 / 11.1) and regressed.flag is None


def test_a_single_repeat_is_never_flagged(against_baseline) -> None:
    c = cell(against_baseline, "train-16gpu-large-fp32", "cccccc")
    assert c.vs_baseline == pytest.approx(5.5 / 4.5) and c.flag is None and c.ratio_ci is None
    assert c.note.startswith("cannot separate a change from run-to-run variation (1 vs 3 runs")


def test_scaled_down_results_get_no_reference_or_baseline_ratio(against_baseline) -> None:
    c = cell(against_baseline, "train-16gpu-large-fp32", "dddddd")
    assert c.comparable is False and c.vs_reference is None and c.vs_baseline is None and c.flag is None
    assert "scaled down" in c.note


def test_environment_differences_are_listed(against_baseline) -> None:
    keys = {d.key: d.values for d in against_baseline.env_differences}
    assert keys["nvidia_driver"]["dgx2/20260102T000000Z-bbbbbb"] == "550.54.15"
    assert keys["nvidia_driver"]["dgx2/20260101T000000Z-aaaaaa"] == "535.104.05"
    assert set(keys["package torch"].values()) == {"2.3.0", "2.4.0"}
    assert "gpus" in keys  # the scaled-down set ran without GPUs
    same = compare([load("single")], load("baseline"))
    assert same.env_differences == []


def test_auc_is_compared_with_the_reference_only_on_real_data() -> None:
    comparison = compare([load("criteo")])
    rows = {r.case: r for r in comparison.rows}
    synthetic = next(iter(rows["train-1gpu-small-tf32"].cells.values()))
    real = next(iter(rows["train-1gpu-small-tf32-criteo"].cells.values()))
    assert synthetic.auc == 0.8030 and synthetic.auc_vs_reference is None
    assert rows["train-1gpu-small-tf32"].auc_note == "synthetic data: AUC not comparable with the reference"
    assert real.auc_vs_reference == pytest.approx(0.8030 / 0.8036) and rows["train-1gpu-small-tf32-criteo"].auc_note is None
    assert synthetic.vs_reference == pytest.approx(2.65e6 / 2498002)  # throughput stays comparable


def test_json_export_carries_statistics_and_energy(against_baseline) -> None:
    payload = json.loads(renderings.to_json(against_baseline))
    assert payload["schema"] == "dlrmbench.compare" and payload["schema_version"] == 2
    records = payload["rows"]
    assert not [r for r in records if r["flag"]]
    improved = next(r for r in records if r["case"] == "train-16gpu-large-fp32" and r["result_set"].endswith("bbbbbb"))
    assert improved["sample_kind"] == "runs" and improved["samples"] == 3 and improved["p_value"] is None
    assert improved["verdict"] == "inconclusive"
    assert improved["ci_low"] <= improved["value"] <= improved["ci_high"]
    energy = [r["energy_per_sample_j"] for r in records if r["result_set"].endswith("bbbbbb")]
    assert all(e == pytest.approx(2 * 300.0 * 4.0 / (200 * 65536)) for e in energy)


def test_compare_command_shows_verdicts_warnings_and_the_rule() -> None:
    out = CliRunner().invoke(make_cli(), ["compare", str(FIXTURES / "candidate"), "--baseline",
                                          str(FIXTURES / "baseline")], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "inconclusive (noisy: a GPU slowed down in 8% of samples (sw_power_cap)" in out.output
    assert "vs base 1.111x" in out.output
    assert ("Warning: dgx2/train-16gpu-large-fp32: 6 of 6 runs noisy: a GPU slowed down in 8% of samples "
            "(sw_power_cap) (") in out.output
    assert "Warning: the result sets were measured in different environments" in out.output
    assert "nvidia_driver" in out.output and "550.54.15" in out.output
    assert ("Verdicts: the run, not the step, is the unit of replication: one value per run, Welch's t-test on log "
            "per-run values, quiet runs only; flagged when p < 0.01 (--alpha) and the change is at least 5%") in \
        " ".join(out.output.split())
    help_text = CliRunner().invoke(make_cli(), ["compare", "--help"]).output
    assert "unit of replication" in help_text and "--fail-on-regression" in help_text and "--allow-missing" in help_text


def test_run_ends_with_the_comparison_of_the_cases_just_run() -> None:
    import io

    from rich.console import Console

    from dlrmbench.report.terminal import print_run_comparison

    result_set = load("candidate")
    buffer = io.StringIO()
    print_run_comparison(Console(file=buffer, width=250), result_set.path, result_set.manifest, result_set.results)
    text = buffer.getvalue()
    assert "dgx2/train-16gpu-large-fp32" in text and "4,567,478" in text
    assert f"vs ref {5.0e6 / REF_16_FP32:.3f}x" in text and "(n=3)" in text
    assert "vs base" not in text  # no baseline at the end of a run


def _quiet(result_set):
    """The set as if its telemetry had seen nothing: no noise finding, so its runs count in the verdicts."""
    for result in result_set.results:
        result.telemetry = {}
    return result_set


def test_the_same_runs_without_noise_are_flagged_in_compare_json_and_the_report(tmp_path) -> None:
    """The fixtures' runs without their GPU-slowdown samples: the -9% (3 vs 3 runs) is a regression and the
    +11% an improvement, in the comparison, its JSON records and the HTML report's verdict cells."""
    from dlrmbench.report.html import write_report

    candidate, baseline = _quiet(load("candidate")), _quiet(load("baseline"))
    quiet = compare([candidate], baseline)
    assert cell(quiet, "train-16gpu-large-amp", "bbbbbb").flag == "regression"
    assert cell(quiet, "train-16gpu-large-fp32", "bbbbbb").flag == "improvement"
    flags = {r["case"]: r["flag"] for r in json.loads(renderings.to_json(quiet))["rows"]
             if r["result_set"].endswith("bbbbbb") and r["flag"]}
    assert flags == {"train-16gpu-large-amp": "regression", "train-16gpu-large-fp32": "improvement"}
    html = write_report([baseline, candidate], tmp_path / "r.html", baseline).html.read_text()
    assert "<span class='regression'>regression</span>" in html
    assert "<span class='improvement'>improvement</span>" in html
