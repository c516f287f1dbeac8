"""Stages 3 and 4: write the ordered rows as binary chunks (in parallel), then concatenate per split.

Each Spark partition of the bucketed frame parses its lines (lines.parse_valid: numpy on Arrow buffers,
never row by row), converts the integers (lines.numerical), maps categorical values to ids (a hash or
binary search in the lookup arrays of the dictionaries stage) and writes
one chunk directory per bucket (label.bin, numerical.bin, cat_j.bin, chunk.json) from the executor,
first under a temp name and then renamed, so a retried task never leaves a torn chunk and an
interrupted transform keeps its finished chunks. The driver then concatenates the chunks in bucket
order (= output order) into the final files, each via temp + rename. The output directory must be
visible to all executors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from preproc import atomic
from preproc.errors import PreprocError
from preproc.session import arrow_batches, ship_by_value
from preproc.schema import BIN_FILES, CAT_KEYS, NUM_CAT, NUM_INT, SPLITS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: Columns with at most this many kept values are looked up in a hash index (pandas' khash, O(1), ~4x
#: faster than the binary search at 1e5 entries, ~50 bytes per entry of memory per writer task);
#: larger ones by binary search on the memory-mapped sorted array (no extra memory).
HASH_LOOKUP_MAX_ENTRIES = 4_000_000


def done_chunks(chunk_dir: Path) -> list[dict[str, int]]:
    """Chunks finished by an earlier (interrupted) transform: [{'bucket', 'split', 'rows'}], by bucket.

    A chunk directory gets its final name only after all its files and its `chunk.json` are written,
    so every `bucket-*` directory is complete; temp directories (`.bucket-*`) are discarded.
    """
    if not chunk_dir.exists():
        return []
    for tmp in chunk_dir.glob(".bucket-*"):
        atomic.remove(tmp)
    found = []
    for d in chunk_dir.glob("bucket-*"):
        meta = atomic.read_json_or_none(d / "chunk.json")
        if meta is not None:
            found.append(meta)
        else:
            atomic.remove(d)
    return sorted(found, key=lambda c: c["bucket"])


def write_chunks(
    df: "DataFrame", chunk_dir: Path, lookup_dir: Path, dtypes: Sequence[str]
) -> list[dict[str, int]]:
    """Write each bucket of `df` (sorted by bucket within partitions) to `chunk_dir/bucket-NNNNNNNN/<split>/`.

    Returns the new chunks, [{'bucket', 'split', 'rows'}]. Each chunk is renamed into place as soon as its
    bucket ends, with a `chunk.json`, so an interrupted run keeps every finished chunk.
    """
    from preproc.lines import PARSE_ROWS, numerical, parse_valid  # numpy: not at import

    chunk_root = str(chunk_dir)
    hash_max = HASH_LOOKUP_MAX_ENTRIES
    lookup_root = str(lookup_dir)
    keys = list(CAT_KEYS)
    dtype_list = list(dtypes)
    split_names = list(SPLITS)
    parse_rows = PARSE_ROWS

    def write_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import json
        import os
        import shutil
        import uuid

        import numpy as np
        import pyarrow as pa

        import pandas as pd

        def load(key: str) -> tuple[Any, Any, Any]:
            """(values, ids, hash index or None) of one column.

            Hashed columns get their ids in memory with a trailing 0 (what index -1, "not kept", picks);
            larger ones stay memory-mapped, so a huge dictionary costs no memory per task.
            """
            values = np.load(os.path.join(lookup_root, f"{key}.values.npy"), mmap_mode="r")
            ids = np.load(os.path.join(lookup_root, f"{key}.ids.npy"), mmap_mode="r")
            if len(values) > hash_max:
                return values, ids, None
            return values, np.concatenate([ids, np.zeros(1, dtype=ids.dtype)]), pd.Index(np.asarray(values))

        tables = [load(k) for k in keys]

        def lookup(j: int, x: Any) -> Any:
            """Ids of the values `x` (-1 = missing) in column j; 0 where not kept."""
            values, ids, index = tables[j]
            if index is not None:
                return ids[index.get_indexer(x)]  # -1 picks the trailing 0
            if len(values) == 0:
                return np.zeros(len(x), dtype=ids.dtype)
            pos = np.minimum(np.searchsorted(values, x), len(values) - 1)
            return np.where(values[pos] == x, ids[pos], 0)

        done: list[dict[str, int]] = []
        state: dict[str, Any] = {"bucket": None}

        def close() -> None:
            if state["bucket"] is None:
                return
            for fh in state["handles"]:
                fh.close()
            meta = {"bucket": state["bucket"], "split": state["split"], "rows": state["rows"]}
            with open(os.path.join(state["tmp"], "chunk.json"), "w") as fh:
                json.dump(meta, fh)
            final = os.path.join(chunk_root, f"bucket-{state['bucket']:08d}")
            if os.path.exists(final):  # a retried task: same bucket, same rows
                shutil.rmtree(final)
            os.rename(state["tmp"], final)
            done.append(meta)
            state["bucket"] = None

        def open_bucket(bucket: int, split: int) -> None:
            tmp = os.path.join(chunk_root, f".bucket-{bucket:08d}.{uuid.uuid4().hex}")
            os.makedirs(os.path.join(tmp, split_names[split]))
            state.update(bucket=bucket, split=split, rows=0, tmp=tmp,
                         handles=[open(os.path.join(tmp, split_names[split], n), "wb") for n in BIN_FILES])

        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                bucket_col = batch.column("bucket").to_numpy(zero_copy_only=False)
                split_col = batch.column("split").to_numpy(zero_copy_only=False)
                cuts = np.flatnonzero(np.diff(bucket_col)) + 1
                for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(bucket_col)]):
                    b = int(bucket_col[lo])
                    if state["bucket"] != b:
                        close()
                        open_bucket(b, int(split_col[lo]))
                    h = state["handles"]
                    text = batch.column("value").slice(lo, hi - lo)
                    for s in range(0, hi - lo, parse_rows):
                        lines = parse_valid(text.slice(s, parse_rows))
                        h[0].write(lines.label.tobytes())
                        h[1].write(numerical(lines).tobytes())
                        for j in range(NUM_CAT):
                            h[2 + j].write(lookup(j, lines.cats[:, j]).astype(dtype_list[j]).tobytes())
                    state["rows"] += int(hi - lo)
            close()
        finally:
            if state["bucket"] is not None:  # failed mid-bucket: leave no torn chunk
                for fh in state["handles"]:
                    fh.close()
                shutil.rmtree(state["tmp"], ignore_errors=True)
        if done:
            yield pa.RecordBatch.from_pydict({
                "bucket": pa.array([d["bucket"] for d in done], pa.int64()),
                "split": pa.array([d["split"] for d in done], pa.int64()),
                "rows": pa.array([d["rows"] for d in done], pa.int64()),
            })

    chunk_dir.mkdir(parents=True, exist_ok=True)
    ship_by_value()
    with arrow_batches(df.sparkSession):
        result = df.mapInArrow(write_partition, "bucket long, split long, rows long").collect()
    return sorted(({"bucket": r["bucket"], "split": r["split"], "rows": r["rows"]} for r in result),
                  key=lambda d: d["bucket"])


def assemble(chunk_dir: Path, parts: Sequence[dict[str, int]], split: str, out_dir: Path, dtypes: Sequence[str]) -> int:
    """Concatenate the chunks of `split` into `out_dir/<file>.bin` atomically; checks every size; returns rows."""
    import numpy as np

    index = SPLITS.index(split)
    parts = sorted((p for p in parts if p["split"] == index), key=lambda p: p["bucket"])
    rows = sum(p["rows"] for p in parts)
    widths = [1, 2 * NUM_INT] + [np.dtype(d).itemsize for d in dtypes]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, width in zip(BIN_FILES, widths):
        sources = [chunk_dir / f"bucket-{p['bucket']:08d}" / split / name for p in parts]
        for p, src in zip(parts, sources):
            if not src.exists() or src.stat().st_size != p["rows"] * width:
                raise PreprocError(f"chunk {src} is missing or has the wrong size; rerun to redo this split")
        total = atomic.concatenate(sources, out_dir / name)
        if total != rows * width:
            raise PreprocError(f"{out_dir / name}: wrote {total} bytes, expected {rows * width}; rerun")
    return rows
