"""Stage 4, per split: write the ordered rows as binary chunks (in parallel), then concatenate.

Each Spark partition of the sorted frame writes its own chunk directory (label.bin, numerical.bin,
cat_j.bin) from the executor, first under a temp name and then renamed, so a retried task never
leaves a torn chunk. The driver then concatenates the chunks in partition order (= sort order) into
the final files, each via temp + rename. The output directory must be visible to all executors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from preproc import atomic
from preproc.errors import PreprocError
from preproc.schema import BIN_FILES, NUM_CAT, NUM_INT

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def write_chunks(df: "DataFrame", chunk_dir: Path, dtypes: Sequence[str]) -> list[dict[str, int]]:
    """Write every partition of `df` to `chunk_dir/part-NNNNNN/`; return [{'part', 'rows'}] in order."""
    from pyspark.sql import functions as F

    chunk_root = str(chunk_dir)
    dtype_list = list(dtypes)

    def write_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import os
        import shutil
        import uuid

        import numpy as np
        import pyarrow as pa

        handles = None
        part = -1
        rows = 0
        tmp = ""
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if handles is None:
                    part = int(batch.column("pid")[0].as_py())
                    tmp = os.path.join(chunk_root, f".part-{part:06d}.{uuid.uuid4().hex}")
                    os.makedirs(tmp)
                    handles = [open(os.path.join(tmp, n), "wb") for n in BIN_FILES]

                def col(name: str) -> Any:
                    return batch.column(name).to_numpy(zero_copy_only=False)

                handles[0].write(col("label").astype(np.uint8).tobytes())
                num = np.stack([col(f"n{i}") for i in range(NUM_INT)], axis=1).astype(np.float32)
                handles[1].write(num.astype("<f2").tobytes())
                for j in range(NUM_CAT):
                    handles[2 + j].write(col(f"k{j}").astype(dtype_list[j]).tobytes())
                rows += batch.num_rows
        finally:
            for h in handles or []:
                h.close()
        if handles is not None:
            final = os.path.join(chunk_root, f"part-{part:06d}")
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(tmp, final)
            yield pa.RecordBatch.from_pydict(
                {"part": pa.array([part], pa.int64()), "rows": pa.array([rows], pa.int64())}
            )

    chunk_dir.mkdir(parents=True, exist_ok=True)
    result = df.withColumn("pid", F.spark_partition_id()).mapInArrow(write_partition, "part long, rows long").collect()
    return sorted(({"part": r["part"], "rows": r["rows"]} for r in result), key=lambda d: d["part"])


def assemble(chunk_dir: Path, parts: Sequence[dict[str, int]], out_dir: Path, dtypes: Sequence[str]) -> int:
    """Concatenate chunks into `out_dir/<file>.bin` atomically; checks every size; returns the row count."""
    import numpy as np

    rows = sum(p["rows"] for p in parts)
    widths = [1, 2 * NUM_INT] + [np.dtype(d).itemsize for d in dtypes]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, width in zip(BIN_FILES, widths):
        sources = [chunk_dir / f"part-{p['part']:06d}" / name for p in parts]
        for p, src in zip(parts, sources):
            if not src.exists() or src.stat().st_size != p["rows"] * width:
                raise PreprocError(f"chunk {src} is missing or has the wrong size; rerun to redo this split")
        total = atomic.concatenate(sources, out_dir / name)
        if total != rows * width:
            raise PreprocError(f"{out_dir / name}: wrote {total} bytes, expected {rows * width}; rerun")
    return rows
