"""Pre-flight: estimate disk and memory before starting, and refuse with the estimate if it cannot fit.

Estimates (documented in FORMAT.md): a raw Criteo line is ~240 bytes; gzip files are assumed to be
4x compressed. Output <= 131 bytes per row (1 label + 26 numerical + up to 4 per categorical); the
chunks are the same size again until assembled; the per-file value counts take at most ~30% of the
raw size. Spark's local directories hold the shuffles of the count, join and sort (~1x raw size).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from preproc.errors import PreprocError
from preproc.inputs import InputFile

BYTES_PER_LINE = 240
OUTPUT_BYTES_PER_ROW = 1 + 26 + 26 * 4
MIN_MEMORY = 1 << 30


@dataclass(frozen=True)
class Estimate:
    """Estimated needs of a run."""

    raw_bytes: int
    rows: int
    output_bytes: int
    work_bytes: int
    spark_local_bytes: int
    memory_bytes: int

    def describe(self) -> str:
        """One line for the progress output."""
        return (
            f"~{self.rows:,} rows from {gib(self.raw_bytes)} raw; needs {gib(self.output_bytes + self.work_bytes)} "
            f"in OUTPUT (dataset {gib(self.output_bytes)} + work {gib(self.work_bytes)}), "
            f"{gib(self.spark_local_bytes)} in Spark local dirs, {gib(self.memory_bytes)} driver memory"
        )


def gib(n: int) -> str:
    """Bytes as GiB text."""
    return f"{n / (1 << 30):.2f} GiB"


def parse_memory(text: str) -> int:
    """Spark memory string ('2g', '512m', '4096' = MiB) -> bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().rstrip("b")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t) << 20
    except ValueError:
        raise PreprocError(f"memory setting {text!r} is not a size; use e.g. 2g or 512m") from None


def estimate(files: Sequence[InputFile], driver_memory: str) -> Estimate:
    """The needs of a run over `files`."""
    raw = sum(f.estimated_raw_bytes for f in files)
    rows = max(1, raw // BYTES_PER_LINE)
    out = rows * OUTPUT_BYTES_PER_ROW
    return Estimate(raw, rows, out, out + int(0.3 * raw), raw, max(MIN_MEMORY, parse_memory(driver_memory)))


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def local_dirs(conf: Mapping[str, str]) -> list[Path]:
    """Spark's local (scratch) directories as Spark picks them."""
    text = os.environ.get("SPARK_LOCAL_DIRS") or conf.get("spark.local.dir") or tempfile.gettempdir()
    return [Path(p) for p in text.split(",") if p]


def check(files: Sequence[InputFile], output_dir: Path, conf: Mapping[str, str], master: str) -> Estimate:
    """Refuse (PreprocError with the estimate) if the run cannot fit; else return the estimate."""
    est = estimate(files, conf.get("spark.driver.memory", "2g"))
    need: dict[int, int] = {}
    where: dict[int, str] = {}
    out = _existing(output_dir)
    dev = out.stat().st_dev
    need[dev] = est.output_bytes + est.work_bytes
    where[dev] = str(out)
    if master.startswith("local"):
        for d in local_dirs(conf):
            d_dev = _existing(d).stat().st_dev
            need[d_dev] = need.get(d_dev, 0) + est.spark_local_bytes // len(local_dirs(conf))
            where.setdefault(d_dev, str(d))
    for d_dev, n in need.items():
        free = shutil.disk_usage(where[d_dev]).free
        if n > free:
            raise PreprocError(
                f"not enough disk: the run needs ~{gib(n)} on the filesystem of {where[d_dev]} but only {gib(free)} "
                f"is free ({est.describe()}). Free space, or point OUTPUT / spark.local.dir elsewhere "
                "(--spark-conf spark.local.dir=/big/disk)"
            )
    if master.startswith("local"):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if est.memory_bytes > total:
            raise PreprocError(
                f"spark.driver.memory={conf.get('spark.driver.memory')} exceeds this machine's memory ({gib(total)}); "
                "lower it with --spark-conf spark.driver.memory=..."
            )
    if parse_memory(conf.get("spark.driver.memory", "2g")) < MIN_MEMORY:
        raise PreprocError(
            f"spark.driver.memory={conf.get('spark.driver.memory')} is below the 1 GiB the pipeline needs; "
            "raise it with --spark-conf spark.driver.memory=2g"
        )
    if "spark.executor.memory" in conf and parse_memory(conf["spark.executor.memory"]) < MIN_MEMORY:
        raise PreprocError(
            f"spark.executor.memory={conf['spark.executor.memory']} is below 1 GiB; raise it with --spark-conf"
        )
    return est
