"""The shipped suites validate, and the DGX/H100 suites carry exactly the facts sheet's numbers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from dlrmbench.config.loader import load_suite
from dlrmbench.config.presets import TABLE_SIZE_PRESETS
from dlrmbench.config.schema import ModelConfig

REPO = Path(__file__).resolve().parents[2]
SUITES = sorted((REPO / "suites").glob("*.yaml"))



def _facts_sheet() -> Path:
    """../shared/reference/nvidia-dlrm-facts.md next to the repo (or next to the folder holding a git
    worktree of it); DLRMBENCH_SHARED_DIR overrides."""
    if os.environ.get("DLRMBENCH_SHARED_DIR"):
        return Path(os.environ["DLRMBENCH_SHARED_DIR"]) / "reference" / "nvidia-dlrm-facts.md"
    candidates = [parent / "shared" / "reference" / "nvidia-dlrm-facts.md" for parent in (REPO.parent, REPO.parent.parent)]
    return next((c for c in candidates if c.exists()), candidates[0])


FACTS = _facts_sheet()
SYSTEM_SUITE = {"DGX A100 40GB": "dgxa100", "DGX-1 V100 32GB": "dgx1", "DGX-2 V100 32GB": "dgx2"}
PRECISION = {"TF32": "tf32", "FP32": "fp32", "mixed": "amp"}
PRESET = {"small": "criteo_fl15", "large": "criteo_fl3"}


def facts_text() -> str:
    if not FACTS.exists():
        pytest.skip(f"facts sheet not found at {FACTS} (the repo must sit next to a copy of shared/)")
    return FACTS.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The body of the markdown section whose heading starts with ``heading``."""
    start = text.index("\n" + heading)
    end = text.find("\n### ", start + 1)
    return text[start:end if end > 0 else None]


def table_rows(body: str) -> list[list[str]]:
    rows = []
    for line in body.splitlines():
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]  # drop the header


def number(text: str) -> float | None:
    return None if text in ("—", "-", "") else float(text.replace(",", ""))


def cardinalities(body: str) -> list[int]:
    sizes = {}
    for row in table_rows(body):
        for feat, rows in zip(row[0::2], row[1::2]):
            if feat.startswith("cat_"):
                sizes[int(feat.removeprefix("cat_"))] = int(rows.replace(",", ""))
    return [sizes[i] for i in range(26)]


@pytest.mark.parametrize("path", SUITES, ids=[p.name for p in SUITES])
def test_every_suite_validates(path: Path) -> None:
    loaded = load_suite(path)
    assert loaded.cases


def test_presets_match_the_facts_sheet_tables() -> None:
    text = facts_text()
    fl15 = cardinalities(section(text, "### 4.1"))
    fl3 = cardinalities(section(text, "### 4.2"))
    assert list(TABLE_SIZE_PRESETS["criteo_fl15"]) == fl15 and sum(fl15) == 32_709_138
    assert list(TABLE_SIZE_PRESETS["criteo_fl3"]) == fl3 and sum(fl3) == 177_944_291


def test_a_preset_name_resolves_and_a_typo_names_the_choices() -> None:
    assert ModelConfig(table_sizes="criteo_fl3").table_sizes == list(TABLE_SIZE_PRESETS["criteo_fl3"])
    with pytest.raises(ValueError, match=r'unknown table-size preset .*did you mean "criteo_fl15".*criteo_fl3'):
        ModelConfig(table_sizes="criteo_fl5")


def test_dgx_suites_have_one_case_per_row_of_the_august_2020_tables() -> None:
    text = facts_text()
    rows = table_rows(section(text, "### 9.3"))
    assert len(rows) == 14
    sizes = {"small": cardinalities(section(text, "### 4.1")), "large": cardinalities(section(text, "### 4.2"))}
    suites = {name: load_suite(REPO / "suites" / f"{name}.yaml").cases for name in SYSTEM_SUITE.values()}
    matched: dict[str, set[str]] = {name: set() for name in suites}
    for system, gpus, model, batch, precision, thr, auc, ttt in rows:
        suite = SYSTEM_SUITE[system]
        candidates = [c for c in suites[suite] if c.gpus == int(gpus) and c.precision == PRECISION[precision]
                      and c.model.table_sizes == sizes[model]]
        assert len(candidates) == 1, f"{suite}: no single case for row {system} {gpus} {model} {precision}"
        case = candidates[0]
        # README "32k"/"64k" per GPU; the multi-GPU rows ran dist_main's 65536 *global* batch (facts 9.2 note, 10.11)
        assert case.batch_size == int(batch.removesuffix("k")) * 1024
        assert case.mode == "train" and case.device == "cuda" and case.comparable
        ref = case.reference
        assert ref is not None and ref.system == system
        assert ref.throughput == number(thr)
        assert ref.auc == number(auc)
        assert ref.time_to_train_min == number(ttt)
        assert "3745b498" in ref.source
        matched[suite].add(case.name)
    for suite, cases in suites.items():
        assert matched[suite] == {c.name for c in cases}, f"{suite} has cases that are not table rows"


def test_h100_suite_uses_the_single_gpu_rows_and_the_inference_table() -> None:
    text = facts_text()
    rows = {(r[0], r[1], r[4]): r for r in table_rows(section(text, "### 9.3"))}
    cases = {c.name: c for c in load_suite(REPO / "suites" / "h100.yaml").cases}
    for name, key in (("train-1gpu-small-tf32", ("DGX A100 40GB", "1", "TF32")),
                      ("train-1gpu-small-amp", ("DGX A100 40GB", "1", "mixed")),
                      ("train-1gpu-small-fp32", ("DGX-1 V100 32GB", "1", "FP32"))):
        ref = cases[name].reference
        assert ref.throughput == number(rows[key][5]) and ref.auc == number(rows[key][6])
        assert cases[name].model.table_sizes == list(TABLE_SIZE_PRESETS["criteo_fl15"])
    body = section(text, "### 9.6")
    a100 = body[body.index("A100 80GB — columns"):body.index("DGX-1 V100 32GB — columns")]
    table = table_rows(a100)
    columns = {"inference-amp-graphs": 1, "inference-amp": 3, "inference-tf32-graphs": 5, "inference-tf32": 7}
    for name, col in columns.items():
        case = cases[name]
        expected = {int(r[0]): number(r[col]) for r in table}
        assert case.reference.inference_throughput == expected
        assert case.inference.batch_sizes == sorted(expected, reverse=True)
        assert case.inference.cuda_graphs == name.endswith("graphs")
        assert case.precision == ("amp" if "amp" in name else "tf32")


def test_facts_parser_reads_numbers_it_must_not_misread() -> None:
    """Guards the parser the tests above rely on."""
    assert number("14,230,793") == 14230793 and number("—") is None
    assert re.fullmatch(r"\d+k", "64k")
