"""Generated raw day files with planted values for the dictionary, threshold and split checks."""

from __future__ import annotations

import random
from pathlib import Path

THRESHOLD = 3


def row(rng: random.Random, c1: str | None = None) -> str:
    label = str(rng.randint(0, 1))
    ints = []
    for i in range(13):
        r = rng.random()
        ints.append("" if r < 0.15 else str(rng.choice([-5, -3, -2, -1])) if r < 0.2 else str(rng.randint(0, 5000)))
    cats = []
    for j in range(26):
        if rng.random() < 0.1:
            cats.append("")
        else:  # skewed small vocabulary, so some values pass the threshold and some do not
            cats.append(f"{int(rng.paretovariate(1.2) * 7) + j * 1000:08x}")
    if c1 is not None:
        cats[0] = c1
    return "\t".join([label, *ints, *cats])


def planted_c1() -> list[str]:
    """C1 values with exact total counts: ties, and counts on both sides of THRESHOLD."""
    planted = {"000000ff": 30, "00000002": 12, "00000001": 12, "0000000a": THRESHOLD, "0000000b": THRESHOLD - 1}
    out = [v for v, n in planted.items() for _ in range(n)]
    return out


def make_days(root: Path, days: int = 24, rows: int = 40, last_rows: int = 41, seed: int = 1) -> Path:
    """Write day_0 .. day_{days-1}; C1 holds only the planted values (others get a unique rare value)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    c1 = planted_c1()
    rng.shuffle(c1)
    total = rows * (days - 1) + last_rows
    c1 += [f"{0x10000 + k:08x}" for k in range(total - len(c1))]  # unique -> rare -> id 0
    k = 0
    for d in range(days):
        n = last_rows if d == days - 1 else rows
        lines = [row(rng, c1[k + i]) for i in range(n)]
        k += n
        (root / f"day_{d}").write_text("\n".join(lines) + "\n")
    return root
