"""Hostile suite files: each is refused quickly, in bounded memory, with a located message and exit 2."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from dlrmbench.config import loader
from dlrmbench.config.loader import load_suite
from dlrmbench.errors import UserError
from tests.conftest import TINY_DEFAULTS, run_cli


def _alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    return "name: bomb\n" + "\n".join(lines) + "\ncases: [{name: a, tags: *a11}]\n"


HOSTILE: dict[str, tuple[bytes, str]] = {
    # name: (file bytes, expected fragment of the message)
    "non_utf8": (b"name: s\ncases:\n  - name: caf\xe9\n", ":3: not UTF-8 text (byte 0xe9 at column 14)"),
    "deep_nesting": (("name: s\ncases: " + "[" * 600 + "]" * 600 + "\n").encode(), "nested more than 64 levels"),
    "deep_block_nesting": (("name: s\nx:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 520))
                            + " " * 520 + "v: 1\n").encode(), "nested more than 64 levels"),
    "alias_bomb": (_alias_bomb().encode(), "expands to more than 50,000 values"),
    "huge_file": (b"name: s\n# " + b"x" * (101 * 2**20) + b"\n", "larger than 1024 KiB"),
    "million_cases": (("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: m\n    matrix:\n"
                       f"      seed: [{', '.join(str(i) for i in range(1000))}]\n"
                       f"      batch_size: [{', '.join(str(i + 1) for i in range(1000))}]\n").encode(),
                      "expands to 1,000,000 cases (1000 x 1000)"),
    "wide_times_many": (("name: s\n" + TINY_DEFAULTS.replace("defaults:\n", "defaults:\n  tags: {big: ["
                          + ", ".join(["1"] * 40_000) + "]}\n") + "cases:\n  - name: m\n    matrix:\n"
                          f"      seed: [{', '.join(str(i) for i in range(100))}]\n").encode(),
                         "100 case(s) of 40,0"),
    "flat_list": (b"name: s\ncases: [" + b"1, " * 300_000 + b"1]\n", ":2: holds more than 50,000 values"),
    "long_name": (("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: " + "a" * 500_000 + "\n").encode(),
                  "is 500000 characters long; a case name names a results file or folder, so at most 200"),
    "duplicate_key": (("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n    batch_size: 64\n    batch_size: 128\n"
                       ).encode(), "duplicate key 'batch_size' (first on line"),
    "duplicate_top_key": (b"name: s\nname: t\ncases: [{name: a}]\n", ":2: duplicate key 'name' (first on line 1)"),
    "inf_value": (("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n    timeout_s: .inf\n").encode(),
                  "cases[0].timeout_s: inf is not a finite number"),
    "nan_option": (("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n    optimizer: {lr: .nan}\n").encode(),
                   "cases[0].optimizer.lr: nan is not a finite number"),
    "nan_in_plugin_options": (("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n    dataset:\n"
                               "      name: synthetic\n      options: {train_samples: 4096, click_rate: -.inf}\n"
                               ).encode(), "options.click_rate: -inf is not a finite number"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_suite_is_refused_fast_with_a_located_message(kind: str, tmp_path: Path) -> None:
    data, fragment = HOSTILE[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(data)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()  # CPU time: the bound holds on a loaded CI machine too
    with pytest.raises(UserError) as info:
        load_suite(path)
    elapsed = time.process_time() - start
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert str(path) in info.value.message
    assert fragment in info.value.message, info.value.message
    assert info.value.exit_code == 2
    assert len(info.value.message) < 2000  # a located line, not an echo of the hostile input
    assert elapsed < 2.0, f"{kind}: took {elapsed:.2f} s of CPU time"
    assert grown_mib < 200, f"{kind}: peak memory grew by {grown_mib:.0f} MiB"


def test_validate_refuses_every_hostile_suite_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    paths = []
    for kind, (data, _) in HOSTILE.items():
        if kind == "huge_file":
            continue  # covered in-process; keeps this test light on disk
        path = tmp_path / f"{kind}.yaml"
        path.write_bytes(data)
        paths.append(str(path))
    proc = run_cli("validate", *paths, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for path in paths:
        assert path in proc.stderr


def test_limits_leave_real_suites_alone() -> None:
    for suite in sorted(Path(__file__).resolve().parents[2].joinpath("suites").glob("*.yaml")):
        assert load_suite(suite).cases
    assert loader.MAX_DEPTH >= 16 and loader.MAX_CASES >= 1000


def test_merge_keys_and_anchors_still_work(write_suite) -> None:
    path = write_suite("name: s\n" + TINY_DEFAULTS + """
cases:
  - &first {name: a, batch_size: 128}
  - <<: *first
    name: b
""")
    loaded = load_suite(path)
    assert [(c.name, c.batch_size) for c in loaded.cases] == [("a", 128), ("b", 128)]
