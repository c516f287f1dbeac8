"""Independent reference implementation of the preprocessing, in plain Python (+ numpy for the bytes).

Written from the format contract (preproc/FORMAT.md), not from the Spark code, and used by the tests to
check the Spark output byte for byte, and by bench/preprocess.py as the single-process baseline.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

N_INT, N_CAT = 13, 26
INT_RE = re.compile(r"-?[0-9]{1,18}\Z")
CAT_RE = re.compile(r"[0-9a-f]{8}\Z")


def natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def is_valid(line: str) -> bool:
    f = line.split("\t")
    if len(f) != 1 + N_INT + N_CAT or f[0] not in ("0", "1"):
        return False
    if any(v and not INT_RE.match(v) for v in f[1:14]):
        return False
    return all(not v or CAT_RE.match(v) for v in f[14:])


def cat_dtype(n: int) -> str:
    s = n + 1
    return "<i1" if s < 127 else "<i2" if s < 32767 else "<i4"


def numeric(v: str) -> float:
    if not v:
        return 0.0
    x = int(v) + 3
    return math.log(x) if x > 0 else 0.0


def preprocess(input_dir: Path, output_dir: Path, threshold: int, split: str = "reference", seed: int = 0) -> dict:
    """Write the split dataset for `input_dir` into `output_dir`; returns model_size."""
    names = sorted((p.name for p in input_dir.iterdir() if p.is_file() and not p.name.startswith((".", "_"))), key=natural)
    files = [(name, read_lines(input_dir / name)) for name in names]
    rows = []  # (file index, name, line number, fields)
    for fi, (name, lines) in enumerate(files):
        for ln, line in enumerate(lines, start=1):
            if is_valid(line):
                rows.append((fi, name, ln, line.split("\t")))

    counts = [Counter() for _ in range(N_CAT)]
    for *_, f in rows:
        for j in range(N_CAT):
            if f[14 + j]:
                counts[j][f[14 + j]] += 1
    dicts = []
    for j in range(N_CAT):
        kept = sorted((v for v, c in counts[j].items() if c >= threshold), key=lambda v: (-counts[j][v], v))
        dicts.append({v: i + 1 for i, v in enumerate(kept)})
    model_size = {f"_c{14 + j}": len(dicts[j]) for j in range(N_CAT)}

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    parts = {"train": [], "test": [], "validation": []}
    if split == "reference":
        last = len(files) - 1
        half = len(files[last][1]) // 2
        for r in rows:
            fi, _, ln, _ = r
            parts["train" if fi < last else "test" if ln <= half else "validation"].append(r)
    elif split.startswith("fraction:"):
        t, v = (float(x) for x in split[len("fraction:"):].split(","))
        for r in rows:
            u = int(md5(f"split:{seed}:{r[1]}:{r[2]}")[:8], 16) / 4294967296.0
            parts["test" if u < t else "validation" if u < t + v else "train"].append(r)
    else:
        raise ValueError(split)
    parts["train"].sort(key=lambda r: (md5(f"{seed}:{r[1]}:{r[2]}"), r[0], r[2]))

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "model_size.json").write_text(json.dumps(model_size, indent=2) + "\n")
    dtypes = [cat_dtype(model_size[f"_c{14 + j}"]) for j in range(N_CAT)]
    for name, part in parts.items():
        d = output_dir / name
        d.mkdir(exist_ok=True)
        label = np.array([int(r[3][0]) for r in part], dtype=np.uint8)
        num = np.array([[numeric(r[3][1 + i]) for i in range(N_INT)] for r in part], dtype=np.float64).reshape(-1, N_INT)
        (d / "label.bin").write_bytes(label.tobytes())
        (d / "numerical.bin").write_bytes(num.astype(np.float32).astype("<f2").tobytes())
        for j in range(N_CAT):
            ids = np.array([dicts[j].get(r[3][14 + j], 0) for r in part], dtype=np.int64)
            (d / f"cat_{j}.bin").write_bytes(ids.astype(dtypes[j]).tobytes())
    return model_size
