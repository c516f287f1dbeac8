"""Loader throughput: samples/s each reader delivers at batch 32768 from the page cache.

Writes a Criteo-shaped dataset once (FL=15 table sizes, facts sheet 4.1, so the split files have
the reference's int8/int16/int32 mix) in both on-disk formats, warms the page cache, then for each
format measures in the same run:

* ``raw read``: a plain sequential read of the same bytes (8 MiB ``readinto`` into one buffer);
* ``open+scan``: opening the split and checking every label and categorical id (done once when a
  reader opens a dataset, ``check_values``);
* each reader (``split``/``binary`` with pread, ``memmap``), without and with the prefetcher
  (``depth x threads``), delivering torch batches (float32 numerical, int64 categorical, float32 label).

Usage::

    .venv/bin/python bench/loader.py [--samples 2097152] [--dir /tmp/dlrmbench-loader] [--json]

Figures are best of ``--epochs`` passes. Compare with the training throughput of the CPU
quickstart (about 200k samples/s): the goal is >= 10x that, and >= half the raw read rate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

FL15_TABLE_SIZES = [7912889, 33823, 17139, 7339, 20046, 4, 7105, 1382, 63, 5554114, 582469, 245828, 11, 2209,
                    10667, 104, 4, 968, 15, 8165896, 2675940, 7156453, 302516, 12022, 97, 35]
BATCH = 32768
TRAINING_REFERENCE = 200_000  # samples/s of the CPU quickstart train case


def write_datasets(root: Path, samples: int) -> None:
    from dlrmbench.data.binary import BinaryWriter, write_binary
    from dlrmbench.data.model_size import write_table_sizes
    from dlrmbench.data.split import SplitDatasetWriter

    stamp = root / f"written-{samples}-v2"
    if stamp.exists():
        return
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    with SplitDatasetWriter(root / "split", FL15_TABLE_SIZES) as split, \
            BinaryWriter(root / "binary" / "train_data.bin") as binary:
        for start in range(0, samples, 1 << 18):
            n = min(1 << 18, samples - start)
            label = rng.random(n) < 0.25
            numerical = np.log(rng.integers(0, 1000, (n, 13)) + 3).astype(np.float32)
            categorical = (rng.random((n, 26)) ** 3 * np.asarray(FL15_TABLE_SIZES)).astype(np.int64)
            split.split("train").write(label, numerical, categorical)
            binary.write(label, numerical, categorical)
            if start == 0:  # a small test split, so the readers open as for training
                split.split("test").write(label[:BATCH], numerical[:BATCH], categorical[:BATCH])
                write_binary(root / "binary" / "test_data.bin", label[:BATCH], numerical[:BATCH],
                             categorical[:BATCH])
    write_table_sizes(root / "binary" / "model_size.json", FL15_TABLE_SIZES)
    stamp.touch()


def raw_read(paths: list[Path]) -> tuple[float, float]:
    """Seconds to read every byte of ``paths`` sequentially, and the best bytes/s of one 8 MiB read."""
    buffer = bytearray(8 << 20)
    best = 0.0
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb", buffering=0) as file:
            while True:
                t = time.perf_counter()
                n = file.readinto(buffer)
                if not n:
                    break
                best = max(best, n / (time.perf_counter() - t))
    return time.perf_counter() - start, best


def reader_pass(stream: object) -> tuple[float, float]:
    """Seconds for one epoch, and the best samples/s of a single batch (the uncontended cost)."""
    start = last = time.perf_counter()
    best = 0.0
    for batch in stream:  # type: ignore[attr-defined]
        now = time.perf_counter()
        best = max(best, batch.size / (now - last))
        last = now
    return time.perf_counter() - start, best


def scan_pass(path: Path, fmt: str) -> float:
    """Seconds to open the train split and check every label and id (what a reader does on open)."""
    from dlrmbench.data.open import open_source, scan_values, table_sizes

    start = time.perf_counter()
    sizes = table_sizes(path, fmt)  # type: ignore[arg-type]
    scan_values(open_source(path, fmt, "train", sizes), sizes)  # type: ignore[arg-type]
    return time.perf_counter() - start


def measure(root: Path, samples: int, epochs: int) -> list[dict[str, object]]:
    import torch

    from dlrmbench.config.schema import Case
    from dlrmbench_plugins.datasets._files_impl import BinaryDataset, MemmapDataset, SplitDataset
    from dlrmbench_plugins.datasets.files import MemmapOptions, ReaderOptions

    case = Case(name="bench", device="cpu")
    rows: list[dict[str, object]] = []
    for fmt, folder in (("split", root / "split" / "train"), ("binary", root / "binary")):
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".bin" and p.name != "test_data.bin")
        nbytes = sum(p.stat().st_size for p in paths)
        raw_read(paths)  # warm the page cache
        passes = [raw_read(paths) for _ in range(epochs)]
        raw = min(p[0] for p in passes)
        raw_rate = samples / raw
        raw_best = max(p[1] for p in passes) / (nbytes / samples)
        rows.append({"format": fmt, "reader": "raw read", "prefetch": "-", "samples_per_s": raw_rate,
                     "gb_per_s": nbytes / raw / 1e9, "of_raw": 1.0, "x_training": raw_rate / TRAINING_REFERENCE,
                     "best_chunk_samples_per_s": raw_best, "best_of_raw": 1.0})
        scan = min(scan_pass(root / fmt, fmt) for _ in range(epochs))
        rows.append({"format": fmt, "reader": "open+scan", "prefetch": "-", "samples_per_s": samples / scan,
                     "gb_per_s": nbytes / scan / 1e9, "of_raw": raw / scan,
                     "x_training": samples / scan / TRAINING_REFERENCE})
        readers = [(fmt, SplitDataset if fmt == "split" else BinaryDataset, ReaderOptions), ("memmap", MemmapDataset,
                                                                                             MemmapOptions)]
        for name, factory, options in readers:
            for depth, workers in ((0, 1), (10, 1), (10, 2)):
                dataset = factory(options(path=str(root / fmt), prefetch=depth, prefetch_workers=workers,
                                          check_values=False), case)
                stream = dataset.batches("train", BATCH, torch.device("cpu"))
                reader_pass(stream)
                passes = [reader_pass(stream) for _ in range(epochs)]
                best = min(p[0] for p in passes)
                rate = samples / best
                batch_best = max(p[1] for p in passes) if depth == 0 else None  # prefetched: queued, not timed
                rows.append({"format": fmt, "reader": name, "prefetch": f"{depth}x{workers}" if depth else "off",
                             "samples_per_s": rate, "gb_per_s": nbytes / best / 1e9, "of_raw": rate / raw_rate,
                             "x_training": rate / TRAINING_REFERENCE, "best_chunk_samples_per_s": batch_best,
                             "best_of_raw": batch_best / raw_best if batch_best else None})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2 * 1024 * 1024)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dlrmbench-loader"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    write_datasets(args.dir, args.samples)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = measure(args.dir, args.samples, args.epochs)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{args.samples:,} samples, batch {BATCH}, page cache warm, best of {args.epochs}; "
          f"CPU threads {os.cpu_count()}")
    print("samples/s: whole epochs (what a training loop gets). best batch/s: the fastest single batch (prefetch "
          "off) or 8 MiB read, i.e. the cost without interference from other processes on a shared machine")
    print(f"{'format':<7} {'reader':<9} {'prefetch':<8} {'samples/s':>13} {'GB/s read':>10} {'of raw':>7} "
          f"{'x 200k':>7} {'best batch/s':>13} {'of raw':>7}")
    for r in rows:
        best = r.get("best_chunk_samples_per_s")
        tail = f" {best:>13,.0f} {r['best_of_raw']:>7.2f}" if best else ""
        print(f"{r['format']:<7} {r['reader']:<9} {r['prefetch']:<8} {r['samples_per_s']:>13,.0f} "
              f"{r['gb_per_s']:>10.2f} {r['of_raw']:>7.2f} {r['x_training']:>7.1f}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
