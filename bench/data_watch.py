"""What the run's check of its data files costs per batch: a memory-mapped reader with and without its watch.

A run's memory-mapped readers (``memmap`` of split or binary files, ``mlperf_npy``) ``stat`` every file of a
batch before reading it (:mod:`dlrmbench.data.watch`): a file truncated under a map would otherwise end the
worker with SIGBUS. This bench reads the same batches of a split dataset (28 files: the most files a batch
touches) through ``MemmapSplitFiles`` and converts them as the stream does (``to_batch``), once watched and
once not, interleaved round by round, and prints the median time per batch of each, the ratio, and the spread
of the per-round ratios. Batches are read from the page cache (the files are small and were just written).
Then the checks alone, interleaved: the per-batch ``check_open`` (an ``fstat`` per file) and the per-pass
``check`` (a ``stat`` of each path), per call over the 28 files.

    python bench/data_watch.py [--rounds 15] [--batches 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 4096, 32768])
    args = parser.parse_args()

    from dlrmbench.data.memmap import MemmapSplitFiles
    from dlrmbench.data.split import write_split_dataset
    from dlrmbench.data.stream import to_batch

    table_sizes = [1000] * 26
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.sizes:
            n = batch * 8
            arrays = (rng.integers(0, 2, n), rng.random((n, 13)), rng.integers(0, 1000, (n, 26)))
            root = Path(tmp) / f"b{batch}"
            write_split_dataset(root, table_sizes, {"train": arrays})
            plain = MemmapSplitFiles(root / "train", table_sizes)
            watched = MemmapSplitFiles(root / "train", table_sizes)
            watched.watch_files()
            times: dict[str, list[float]] = {"plain": [], "watched": []}
            for r in range(args.rounds):
                order = [("plain", plain), ("watched", watched)][:: 1 if r % 2 == 0 else -1]  # interleaved
                for name, files in order:
                    start = time.perf_counter()
                    for i in range(args.batches):
                        to_batch(files.read((i % 8) * batch, batch))
                    times[name].append((time.perf_counter() - start) / args.batches)
            ratios = [w / p for w, p in zip(times["watched"], times["plain"])]
            p, w = statistics.median(times["plain"]), statistics.median(times["watched"])
            print(f"batch {batch:>6,}: plain {p * 1e6:9.1f} us/batch, watched {w * 1e6:9.1f} us/batch, "
                  f"extra {(w - p) * 1e6:7.1f} us, ratio {statistics.median(ratios):.3f} "
                  f"(per-round ratios {min(ratios):.3f}..{max(ratios):.3f}, {args.rounds} rounds)")
        watch = watched.watch
        assert watch is not None
        calls: dict[str, list[float]] = {"check_open (fstat)": [], "check (stat)": []}
        for r in range(args.rounds):
            for name, check in [("check_open (fstat)", watch.check_open), ("check (stat)", watch.check)][
                    :: 1 if r % 2 == 0 else -1]:
                start = time.perf_counter()
                for _ in range(1000):
                    check()
                calls[name].append((time.perf_counter() - start) / 1000)
        for name, values in calls.items():
            print(f"{name} of 28 files: median {statistics.median(values) * 1e6:.1f} us per call "
                  f"(rounds {min(values) * 1e6:.1f}..{max(values) * 1e6:.1f})")


if __name__ == "__main__":
    main()
