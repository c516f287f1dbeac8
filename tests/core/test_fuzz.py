"""Seeded fuzzing of everything dlrmbench reads from a user: suite YAML, dataset files, result files.

Each generated input must end in a documented exit status (0 or 2; ``dataset inspect`` also 1 for
"problems found"), never a traceback, within a bounded time and memory, and nothing half-written.
The generator is seeded (reproducible in CI) and bounded (a few hundred inputs, seconds in total);
set DLRMBENCH_FUZZ_EXAMPLES to try more locally.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from click.testing import CliRunner, Result

from dlrmbench.cli import make_cli
from tests.conftest import TINY_DEFAULTS

EXAMPLES = int(os.environ.get("DLRMBENCH_FUZZ_EXAMPLES", "60"))
PER_INPUT_S = 3.0
MAX_GROWTH_MIB = 400

BASE_SUITE = ("name: fuzz\n" + TINY_DEFAULTS + """
cases:
  - name: grid
    matrix:
      precision: [fp32, bf16]
      batch_size: [128, 256]
  - &one
    name: one
    embedding: multi_table
    optimizer: {lr: 0.25}
  - <<: *one
    name: two
""").encode()

NASTY = [b"\xff", b"\xe9", b"\x00", b"\t", b"[" * 80, b"{" * 80, b"&a ", b"*a", b"*nope", b"!!python/object:os.system ",
         b".inf", b"-.nan", b"1e999", b"99999999999999999999999", b"<<: ", b"---\n", b"...\n", b"? ", b"%YAML 1.1\n",
         b"\"\\x\"", b"'", b": ", b"- ", b"\n  " * 10, b"name: grid\n", b"[/x]", b"$x^2$", b"\xef\xbb\xbf", b"\r"]


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:  # delete a span
            del data[at:at + rng.randint(1, 12)]
        elif op == 1:  # insert something nasty
            data[at:at] = rng.choice(NASTY)
        elif op == 2 and data:  # flip a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 3:  # duplicate a line
            lines = bytes(data).split(b"\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            data = bytearray(b"\n".join(lines))
        elif op == 4:  # swap two lines
            lines = bytes(data).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
        else:  # truncate
            data = data[:at]
    return bytes(data)


def _bounded(invoke: Callable[[], Result], what: str) -> Result:
    start = time.process_time()  # CPU time: the bound holds on a loaded CI machine too
    result = invoke()
    elapsed = time.process_time() - start
    assert elapsed < PER_INPUT_S, f"{what}: took {elapsed:.1f} s of CPU time"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"{what}: traceback instead of a clean error:\n{trace}")
    assert "Traceback" not in result.output, f"{what}:\n{result.output}"
    return result


@pytest.fixture
def memory_bound():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown < MAX_GROWTH_MIB, f"peak memory grew by {grown:.0f} MiB"


def test_fuzzed_suites_validate_or_are_refused_cleanly(tmp_path: Path, memory_bound) -> None:
    rng = random.Random(14)
    cli = make_cli()
    runner = CliRunner()
    outcomes = {0: 0, 2: 0}
    for i in range(EXAMPLES * 3):
        data = _mutate_bytes(rng, BASE_SUITE)
        path = tmp_path / f"s{i}.yaml"
        path.write_bytes(data)
        what = f"suite example {i} ({data[:200]!r})"
        result = _bounded(lambda: runner.invoke(cli, ["validate", str(path)]), what)
        assert result.exit_code in (0, 2), f"{what}: exit {result.exit_code}\n{result.output}"
        outcomes[result.exit_code] += 1
        if result.exit_code == 2:
            assert str(path) in result.output, f"{what}: the message does not name the file:\n{result.output}"
            out = tmp_path / f"out{i}"
            result = _bounded(lambda: runner.invoke(cli, ["run", str(path), "-o", str(out), "--quiet"]), what)
            assert result.exit_code == 2 and not out.exists(), f"{what}: run wrote before refusing"
    assert outcomes[0] and outcomes[2], outcomes  # the generator reaches both sides


def _dataset(tmp_path: Path) -> Path:
    from dlrmbench.data.split import write_split_dataset

    rng = np.random.default_rng(0)
    sizes = [3, 200, 40000]

    def arrays(n: int):
        return (rng.integers(0, 2, n).astype(bool), rng.random((n, 13)).astype(np.float32),
                np.stack([rng.integers(0, s, n) for s in sizes], axis=1))

    root = tmp_path / "base"
    write_split_dataset(root, sizes, {"train": arrays(300), "test": arrays(100)})
    return root


def _mutate_dataset(rng: random.Random, root: Path) -> str:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    target = rng.choice(files)
    op = rng.randrange(7)
    if op == 0:
        os.truncate(target, rng.randrange(target.stat().st_size + 1))
        return f"truncate {target.name}"
    if op == 1:
        raw = bytearray(target.read_bytes())
        for _ in range(rng.randint(1, 8)):
            if raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        target.write_bytes(bytes(raw))
        return f"flip bytes of {target.name}"
    if op == 2:
        target.unlink()
        return f"remove {target.name}"
    if op == 3:
        shutil.copy(target, target.with_name(f"cat_{rng.randint(3, 9)}.bin"))
        return f"extra cat file from {target.name}"
    if op == 4:
        value = rng.choice([[], {}, "x", None, -1, 2**70, 1.5, True, {"_c14": "7"}, {"_c15": 3}, [1, 2]])
        try:
            data = json.loads((root / "model_size.json").read_text())
        except (OSError, ValueError, RecursionError):
            data = {"_c14": 1}  # garbled or removed by an earlier step
        if not isinstance(data, dict) or not data:
            data = {"_c14": 1}
        key = rng.choice(list(data))
        data[key] = value
        (root / "model_size.json").write_text(json.dumps(data) if rng.random() < 0.8 else json.dumps(value))
        return f"model_size.json {key} = {value!r}"
    if op == 5:
        numerical = root / rng.choice(["train", "test"]) / "numerical.bin"
        if numerical.exists():
            values = np.fromfile(numerical, dtype="<f2")
            if values.size:
                values[rng.randrange(values.size)] = rng.choice([np.nan, np.inf, -np.inf, 65504])
                values.tofile(numerical)
        return "non-finite numerical value"
    (root / "model_size.json").write_bytes(rng.choice([b"", b"\xff\xfe", b"{" * 5000, b"[" * 100000, b"NaN"]))
    return "model_size.json garbage"


def test_fuzzed_datasets_are_described_or_refused_cleanly(tmp_path: Path, memory_bound) -> None:
    from dlrmbench.data.errors import DatasetError
    from dlrmbench.config.schema import Case
    from dlrmbench_plugins.datasets._files_impl import MemmapDataset, SplitDataset
    from dlrmbench_plugins.datasets.files import MemmapOptions, ReaderOptions

    rng = random.Random(15)
    base = _dataset(tmp_path)
    cli = make_cli()
    runner = CliRunner()
    for i in range(EXAMPLES):
        root = tmp_path / f"d{i}"
        shutil.copytree(base, root)
        change = "; ".join(_mutate_dataset(rng, root) for _ in range(rng.randint(1, 3)))
        what = f"dataset example {i} ({change})"
        result = _bounded(lambda: runner.invoke(cli, ["dataset", "inspect", str(root), "--json"]), what)
        assert result.exit_code in (0, 1, 2), f"{what}: exit {result.exit_code}\n{result.output}"
        for reader, options in ((SplitDataset, ReaderOptions), (MemmapDataset, MemmapOptions)):
            try:
                dataset = reader(options(path=str(root)), Case(name="c", device="cpu"))
            except DatasetError as exc:
                assert str(root) in exc.message or "model_size" in exc.message, f"{what}: {exc.message}"
                if result.exit_code == 0:
                    pytest.fail(f"{what}: inspect passed what the reader refuses: {exc.message}")
            else:
                assert result.exit_code == 0, f"{what}: the reader opened what inspect refused:\n{result.output}"
                del dataset
        shutil.rmtree(root)


def _result_set(root: Path) -> Path:
    from dlrmbench.results.schema import CaseResult, RunManifest, metric
    from dlrmbench.results.store import atomic_write_json

    run_dir = root / "s" / "20260101T000000Z-abcdef"
    atomic_write_json(run_dir / "run.json", RunManifest(
        suite="s", suite_file="s.yaml", suite_sha256="0", run_id="20260101T000000Z-abcdef", dlrmbench_version="0",
        command=["dlrmbench"], started_at="2026-01-01T00:00:00+00:00", status="complete",
        environment={"gpus": [{"name": "H100"}], "cpu": "x", "packages": {"torch": "2"}}))
    for r in range(2):
        for case, mode in (("train-a", "train"), ("test-b", "test"), ("inf-c", "inference")):
            metrics = {"train_throughput": metric(100.0 + r, "samples/s", True)} if mode == "train" else (
                {"auc": metric(0.8, "", True)} if mode == "test" else
                {"inference_throughput_bs64": metric(5000.0, "samples/s", True)})
            result = CaseResult(suite="s", run_id="20260101T000000Z-abcdef", case=case, repeat=r, status="ok",
                                config={"mode": mode, "device": "cpu", "precision": "fp32", "batch_size": 64,
                                        "dataset": {"name": "synthetic"}, "backend": "eager", "comparable": True,
                                        "reference": {"throughput": 90.0, "auc": 0.8, "source": "x",
                                                      "inference_throughput": {"64": 4000.0}},
                                        "model": {"table_sizes": [5, 6]}},
                                metrics=metrics, step_times_s=[0.01, 0.02], evaluations=[{"step": 1, "auc": 0.7}],
                                inference=[{"batch_size": 64, "steps": 2, "cuda_graphs": False,
                                            "end_to_end": {"mean_s": 0.01, "p50_s": 0.01, "throughput": 6400.0,
                                                           "step_times_s": [0.01, 0.01]}}])
            atomic_write_json(run_dir / "cases" / f"{case}.r{r}.json", result)
    return run_dir


WEIRD_VALUES: list[Any] = ["", "[b]x[/b]", "[/x]", "$\\frac{a}{b}$", "\x1b[31mred", "∞", 0, -1, 2**80, 1e308, -1e-308, True, None,
                           [], {}, [1, "a", None], {"value": "x"}, {"name": []}, "NaN", "Infinity", float("nan")]


def _mutate_json(rng: random.Random, data: Any, depth: int = 0) -> Any:
    """Replace one random node of ``data`` by a weird value (or drop a key)."""
    if isinstance(data, dict) and data and depth < 6 and rng.random() < 0.75:
        key = rng.choice(list(data))
        if rng.random() < 0.15:
            return {k: v for k, v in data.items() if k != key}
        return {**data, key: _mutate_json(rng, data[key], depth + 1)}
    if isinstance(data, list) and data and depth < 6 and rng.random() < 0.75:
        i = rng.randrange(len(data))
        return data[:i] + [_mutate_json(rng, data[i], depth + 1)] + data[i + 1:]
    return rng.choice(WEIRD_VALUES)


def test_fuzzed_result_files_are_compared_or_skipped_cleanly(tmp_path: Path, memory_bound) -> None:
    rng = random.Random(16)
    base = tmp_path / "base"
    _result_set(base)
    from dlrmbench.results.load import load_results

    pristine = load_results([base])  # the unmutated set must load whole, or the fuzzing proves nothing
    assert pristine.problems == []
    assert any(r.inference for s in pristine.sets for r in s.results)
    cli = make_cli()
    runner = CliRunner()
    for i in range(EXAMPLES):
        root = tmp_path / f"r{i}"
        shutil.copytree(base, root)
        files = sorted(root.rglob("*.json"))
        changes = []
        for _ in range(rng.randint(1, 3)):
            target = rng.choice(files)
            if rng.random() < 0.2:
                raw = target.read_bytes()
                target.write_bytes(rng.choice([raw[:rng.randrange(len(raw) + 1)], b"\xff" + raw, b"[" * 100000,
                                               raw.replace(b"100.0", b"NaN"), b""]))
                changes.append(f"corrupt {target.name}")
            else:
                try:
                    data = json.loads(target.read_text())
                except (ValueError, RecursionError):
                    continue  # corrupted by an earlier step of this example
                target.write_text(json.dumps(_mutate_json(rng, data)))
                changes.append(f"mutate {target.name}")
        what = f"results example {i} ({'; '.join(changes)})"
        for fmt in ("table", "json"):
            before = {p: p.read_bytes() for p in root.rglob("*")if p.is_file()}
            result = _bounded(lambda: runner.invoke(cli, ["compare", str(root), "--format", fmt]), what)
            assert result.exit_code in (0, 2), f"{what}: exit {result.exit_code}\n{result.output}"
            assert before == {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}, "compare wrote files"
        shutil.rmtree(root)
