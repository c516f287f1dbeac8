"""The numpy line parser and the scan's per-partition counting, against plain Python on the same lines.

The oracle is independent of the code under test: str.split, int(), int(x, 16), math.log and the
pure-Python `describe_bad_line` (the same rules as the Spark line regex).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")

from preproc import batch_counts, lines  # noqa: E402
from preproc.parsing import describe_bad_line  # noqa: E402


def real_lines(criteo_data: Path) -> list[str]:
    text = (criteo_data / "autoint_train_examples_head10k.txt").read_text()
    return [x for x in text.split("\n") if x]


def expected_numerical(field: str) -> np.float16:
    """ln(x + 3) in float64 -> float32 -> float16; missing or x <= -3 -> 0 (FORMAT.md)."""
    if not field or int(field) + 3 <= 0:
        return np.float16(0)
    return np.float16(np.float32(math.log(int(field) + 3)))


def check_parsed(texts: list[str], parsed: lines.Lines) -> None:
    num = lines.numerical(parsed)
    assert num.dtype == np.dtype("<f2") and parsed.cats.dtype == np.int64
    for i, text in enumerate(texts):
        f = text.split("\t")
        assert parsed.label[i] == int(f[0])
        assert list(parsed.int_present[i]) == [x != "" for x in f[1:14]]
        assert list(parsed.ints[i]) == [int(x) if x else 0 for x in f[1:14]]
        assert [float(v) for v in num[i]] == [float(expected_numerical(x)) for x in f[1:14]]
        assert list(parsed.cats[i]) == [int(x, 16) if x else -1 for x in f[14:]]


def test_real_rows_parse_like_python(criteo_data: Path) -> None:
    texts = real_lines(criteo_data)
    assert len(texts) > 5000
    parsed, valid = lines.parse(pa.array(texts))
    assert valid.all()
    check_parsed(texts, parsed)


def test_edge_values() -> None:
    texts = [
        "1\t-2\t-3\t-4\t999999999999999999\t-999999999999999999\t0\t007\t12345678\t123456789\t-0\t\t\t1\t"
        + "\t".join(["ffffffff", "00000000", "0000000a"] + [""] * 23),
        "0" + "\t" * 39,  # everything missing, the last field empty at the end of the buffer
    ]
    parsed, valid = lines.parse(pa.array(texts))
    assert valid.all()
    check_parsed(texts, parsed)
    assert parsed.ints[0, 3] == 999_999_999_999_999_999 and parsed.cats[0, 0] == 0xFFFFFFFF


@pytest.mark.parametrize("kind", ["string", "large_string", "sliced"])
def test_arrow_layouts(criteo_data: Path, kind: str) -> None:
    texts = real_lines(criteo_data)[:300]
    if kind == "sliced":  # a slice of a batch: its offsets do not start at 0
        arr = pa.array(["x"] * 7 + texts).slice(7)
    else:
        arr = pa.array(texts, type=getattr(pa, kind)())
    parsed = lines.parse_valid(arr)
    check_parsed(texts, parsed)


def fuzzed(texts: list[str], count: int, seed: int = 0) -> list[str]:
    """Lines with 0-2 random edits drawn from the characters that matter (digits, hex, case, tabs, CR, sign)."""
    rng = np.random.default_rng(seed)
    alphabet = list("0123456789abcdefABF-+ \t\r:g.\x00é")
    out = []
    for k in range(count):
        c = list(texts[k % len(texts)])
        for _ in range(int(rng.integers(0, 3))):
            op, pos = int(rng.integers(0, 3)), int(rng.integers(0, len(c) + 1))
            if op == 0 and c:
                del c[min(pos, len(c) - 1)]
            elif op == 1:
                c.insert(pos, alphabet[int(rng.integers(len(alphabet)))])
            elif c:
                c[min(pos, len(c) - 1)] = alphabet[int(rng.integers(len(alphabet)))]
        out.append("".join(c))
    short = ["", "1", "0" + "\t" * 38, "0" + "\t" * 40, "2" + "\t" * 39, "01" + "\t" * 39, "1\t-" + "\t" * 38,
             "1\t" + "9" * 19 + "\t" * 38, "1\t-" + "9" * 19 + "\t" * 38, "1\t" + "9" * 18 + "\t" * 38,
             "0" + "\t" * 39 + "\r", "0" + "\t" * 39 + "abcdef01", "0" + "\t" * 39 + "abcdef0",
             "0" + "\t" * 39 + "abcdef012", "label" + "\tx" * 39]
    return out + short


def test_validation_matches_the_line_rules(criteo_data: Path) -> None:
    texts = fuzzed(real_lines(criteo_data), 4000)
    parsed, valid = lines.parse(pa.array(texts))
    expected = np.array([describe_bad_line(t) == "valid" for t in texts])
    assert 800 < expected.sum() < len(texts) - 800  # both kinds are well represented
    assert (valid == expected).all(), [texts[i][:60] for i in np.flatnonzero(valid != expected)[:3]]
    check_parsed([t for t, ok in zip(texts, valid) if ok], parsed)
    with pytest.raises(ValueError, match="not valid Criteo lines"):
        lines.parse_valid(pa.array(texts))


def run_counts(batches: list) -> dict:
    out: dict = {}
    for b in batch_counts.count_partition(iter(batches)):
        for f, c, v, n in zip(*(b.column(k).to_pylist() for k in ("file", "col", "value", "count"))):
            out[(f, c, v)] = out.get((f, c, v), 0) + n
    return out


def test_counts_match_python(criteo_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_counts, "MAX_PENDING", 500)  # forces the merge and the early hand-off
    texts = fuzzed(real_lines(criteo_data), 3000, seed=1)
    files = [k % 2 for k in range(len(texts))]
    blks = [0 if k < 1500 else 1 << 27 for k in range(len(texts))]
    batches = [
        pa.RecordBatch.from_pydict({"file": pa.array(files[s:s + 700], pa.int32()), "blk": blks[s:s + 700],
                                    "value": texts[s:s + 700]})
        for s in range(0, len(texts), 700)
    ]
    got = run_counts(batches)
    want: Counter = Counter()
    lines_per_block: Counter = Counter()
    invalid: Counter = Counter()
    for t, f, b in zip(texts, files, blks):
        lines_per_block[(f, batch_counts.LINES, b)] += 1
        if describe_bad_line(t) != "valid":
            invalid[(f, batch_counts.INVALID, b)] += 1
            continue
        for j, x in enumerate(t.split("\t")[14:]):
            if x:
                want[(f, j, int(x, 16))] += 1
    assert {k: v for k, v in got.items() if k[1] >= 0} == dict(want)
    assert {k: v for k, v in got.items() if k[1] == batch_counts.LINES} == dict(lines_per_block)
    assert {k: v for k, v in got.items() if k[1] == batch_counts.INVALID} == dict(invalid)
