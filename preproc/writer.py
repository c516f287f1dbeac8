"""Stage 4, per split: write the ordered rows as binary chunks (in parallel), then concatenate.

Each Spark partition of the sorted frame maps categorical values to ids (binary search in the
sorted lookup arrays of the dictionaries stage) and writes its own chunk directory (label.bin, numerical.bin,
cat_j.bin) from the executor, first under a temp name and then renamed, so a retried task never
leaves a torn chunk. The driver then concatenates the chunks in partition order (= sort order) into
the final files, each via temp + rename. The output directory must be visible to all executors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from preproc import atomic
from preproc.errors import PreprocError
from preproc.schema import BIN_FILES, CAT_KEYS, NUM_CAT, NUM_INT, SPLITS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def write_chunks(
    df: "DataFrame", chunk_dir: Path, lookup_dir: Path, dtypes: Sequence[str]
) -> list[dict[str, int]]:
    """Write every partition of `df` to `chunk_dir/part-NNNNNN/<split>/`.

    Returns [{'part', 'split', 'rows'}] sorted by part (the split column is 0/1/2 = train/test/validation).
    """
    from pyspark.sql import functions as F

    chunk_root = str(chunk_dir)
    lookup_root = str(lookup_dir)
    keys = list(CAT_KEYS)
    dtype_list = list(dtypes)
    split_names = list(SPLITS)

    def write_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import os
        import shutil
        import uuid

        import numpy as np
        import pyarrow as pa

        tables = [
            (np.load(os.path.join(lookup_root, f"{k}.values.npy"), mmap_mode="r"),
             np.load(os.path.join(lookup_root, f"{k}.ids.npy"), mmap_mode="r"))
            for k in keys
        ]

        def lookup(j: int, x: Any) -> Any:
            values, ids = tables[j]
            if len(values) == 0:
                return np.zeros(len(x), dtype=np.int64)
            pos = np.minimum(np.searchsorted(values, x), len(values) - 1)
            return np.where(values[pos] == x, ids[pos], 0)

        handles: dict[int, list[Any]] = {}
        rows: dict[int, int] = {}
        part = -1
        tmp = ""
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if not tmp:
                    part = int(batch.column("pid")[0].as_py())
                    tmp = os.path.join(chunk_root, f".part-{part:06d}.{uuid.uuid4().hex}")
                split_col = batch.column("split").to_numpy(zero_copy_only=False)
                for s in np.unique(split_col):
                    s = int(s)
                    idx = np.nonzero(split_col == s)[0]
                    if s not in handles:
                        os.makedirs(os.path.join(tmp, split_names[s]))
                        handles[s] = [open(os.path.join(tmp, split_names[s], n), "wb") for n in BIN_FILES]
                        rows[s] = 0
                    h = handles[s]

                    def col(name: str) -> Any:
                        return batch.column(name).to_numpy(zero_copy_only=False)[idx]

                    h[0].write(col("label").astype(np.uint8).tobytes())
                    num = np.stack([col(f"n{i}") for i in range(NUM_INT)], axis=1).astype(np.float32)
                    h[1].write(num.astype("<f2").tobytes())
                    for j in range(NUM_CAT):
                        h[2 + j].write(lookup(j, col(f"v{j}")).astype(dtype_list[j]).tobytes())
                    rows[s] += len(idx)
        finally:
            for h in handles.values():
                for fh in h:
                    fh.close()
        if tmp:
            final = os.path.join(chunk_root, f"part-{part:06d}")
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(tmp, final)
            splits = sorted(rows)
            yield pa.RecordBatch.from_pydict({
                "part": pa.array([part] * len(splits), pa.int64()),
                "split": pa.array(splits, pa.int64()),
                "rows": pa.array([rows[s] for s in splits], pa.int64()),
            })

    chunk_dir.mkdir(parents=True, exist_ok=True)
    result = (
        df.withColumn("pid", F.spark_partition_id())
        .mapInArrow(write_partition, "part long, split long, rows long")
        .collect()
    )
    return sorted(
        ({"part": r["part"], "split": r["split"], "rows": r["rows"]} for r in result),
        key=lambda d: (d["part"], d["split"]),
    )


def assemble(chunk_dir: Path, parts: Sequence[dict[str, int]], split: str, out_dir: Path, dtypes: Sequence[str]) -> int:
    """Concatenate the chunks of `split` into `out_dir/<file>.bin` atomically; checks every size; returns rows."""
    import numpy as np

    index = SPLITS.index(split)
    parts = [p for p in parts if p["split"] == index]
    rows = sum(p["rows"] for p in parts)
    widths = [1, 2 * NUM_INT] + [np.dtype(d).itemsize for d in dtypes]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, width in zip(BIN_FILES, widths):
        sources = [chunk_dir / f"part-{p['part']:06d}" / split / name for p in parts]
        for p, src in zip(parts, sources):
            if not src.exists() or src.stat().st_size != p["rows"] * width:
                raise PreprocError(f"chunk {src} is missing or has the wrong size; rerun to redo this split")
        total = atomic.concatenate(sources, out_dir / name)
        if total != rows * width:
            raise PreprocError(f"{out_dir / name}: wrote {total} bytes, expected {rows * width}; rerun")
    return rows
