"""The scan's per-partition work (runs in Spark's Python workers, mapInArrow): validate lines, count values.

Input batches: file (int), blk (long), value (the raw line). Output rows (COUNT_COLUMNS):
- col 0..25: (file, col, value, count) for the categorical values of the valid lines, value = the 8 hex
  digits as an unsigned 32-bit number, summed over the partition (Spark sums over partitions);
- col LINES: per (file, block) the number of lines (value = the block's start offset);
- col INVALID: per (file, block) the number of invalid lines (Spark then classifies those few lines
  with the SQL expressions of parsing.category and checks that its totals agree).
Counts are merged in memory up to MAX_PENDING entries, then handed to Spark, so a huge (gzip, one
partition) file costs bounded memory.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from preproc.lines import PARSE_ROWS, parse

#: Spark schema of the rows yielded by `count_partition`.
COUNT_COLUMNS = "file int, col int, value long, count long"
LINES = -1
INVALID = -2
#: (file, col, value) entries held before they are merged, and handed to Spark if still this many.
MAX_PENDING = 4_000_000


def count_partition(batches: Iterator[Any]) -> Iterator[Any]:
    """mapInArrow function: see the module docstring."""
    import pandas as pd

    pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # (file, key = col << 32 | value, count)
    size = 0
    blocks: dict[tuple[int, int], list[int]] = {}  # (file, blk) -> [lines, invalid lines]

    def merged() -> list[tuple[int, np.ndarray, np.ndarray]]:
        out = []
        for file in sorted({f for f, _, _ in pending}):
            keys = np.concatenate([k for f, k, _ in pending if f == file])
            counts = np.concatenate([c for f, _, c in pending if f == file])
            summed = pd.Series(counts, index=keys).groupby(level=0, sort=False).sum()
            out.append((file, summed.index.to_numpy(np.int64), summed.to_numpy(np.int64)))
        return out

    def rows(entries: list[tuple[int, np.ndarray, np.ndarray]]) -> Any:
        keys = np.concatenate([k for _, k, _ in entries])
        return output(np.concatenate([np.full(len(k), f, np.int32) for f, k, _ in entries]), keys >> 32,
                      keys & 0xFFFFFFFF, np.concatenate([c for _, _, c in entries]))

    shift = np.arange(26, dtype=np.int64) << 32
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        files = batch.column("file").to_numpy(zero_copy_only=False)
        blks = batch.column("blk").to_numpy(zero_copy_only=False)
        text = batch.column("value")
        valid = np.empty(n, dtype=bool)
        cats = []
        for s in range(0, n, PARSE_ROWS):
            lines, ok = parse(text.slice(s, PARSE_ROWS))
            valid[s:s + len(ok)] = ok
            cats.append(lines.cats)
        values = np.concatenate(cats)
        keyed = np.where(values >= 0, values | shift, -1)
        valid_files = files[valid]
        for file in np.unique(files):
            mine = keyed[valid_files == file].reshape(-1)
            counts = pd.Series(mine[mine >= 0]).value_counts(sort=False)
            pending.append((int(file), counts.index.to_numpy(np.int64), counts.to_numpy(np.int64)))
            size += len(counts)
        if blks.max() >= 1 << 40:
            raise ValueError("an input file larger than 1 TiB: split it into smaller files")
        group = files.astype(np.int64) << 40 | blks  # (file, block start) as one number
        for g in np.unique(group):
            at = group == g
            entry = blocks.setdefault((int(g >> 40), int(g & ((1 << 40) - 1))), [0, 0])
            entry[0] += int(at.sum())
            entry[1] += int((at & ~valid).sum())
        if size > MAX_PENDING:
            pending = merged()
            size = sum(len(k) for _, k, _ in pending)
            if size > MAX_PENDING // 2:
                yield rows(pending)
                pending, size = [], 0
    if pending:
        yield rows(merged())
    if blocks:
        meta = [(f, LINES, b, e[0]) for (f, b), e in blocks.items()]
        meta += [(f, INVALID, b, e[1]) for (f, b), e in blocks.items() if e[1]]
        yield output(*(np.array(column, dtype=np.int64) for column in zip(*meta)))


def output(file: np.ndarray, col: np.ndarray, value: np.ndarray, count: np.ndarray) -> Any:
    """One Arrow batch of COUNT_COLUMNS."""
    import pyarrow as pa

    return pa.RecordBatch.from_pydict({
        "file": pa.array(file.astype(np.int32)),
        "col": pa.array(col.astype(np.int32)),
        "value": pa.array(value.astype(np.int64)),
        "count": pa.array(count.astype(np.int64)),
    })
