"""The reference's ``binary`` format: packed 160-byte records (facts sheet 3.1).

One record = 40 little-endian 4-byte words: word 0 the label (int32 0/1), words 1-13 the
numerical features (float32), words 14-39 the categorical ids (int32). No header. Files
``train_data.bin``, ``test_data.bin`` and ``validation_data.bin`` in the dataset directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np

from dlrmbench.data.errors import DatasetError
from dlrmbench.data.raw import RawBatch, ReadCounter, ScratchBuffers, no_dense, pread_array
from dlrmbench.data.share import ReadRequest
from dlrmbench.data.watch import FileWatch

NUM_NUMERICAL = 13
NUM_CATEGORICAL = 26
RECORD_WORDS = 1 + NUM_NUMERICAL + NUM_CATEGORICAL
RECORD_BYTES = 4 * RECORD_WORDS  # 160
WORD = np.dtype("<i4")
SPLIT_FILES = {"train": "train_data.bin", "test": "test_data.bin", "validation": "validation_data.bin"}


def pack_records(label: np.ndarray, numerical: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """``(n, 40)`` int32 records from ``label (n,)``, ``numerical (n, 13)`` and ``categorical (n, 26)``."""
    n = len(label)
    numerical = np.asarray(numerical, dtype="<f4")
    categorical = np.asarray(categorical)
    if numerical.shape != (n, NUM_NUMERICAL) or categorical.shape != (n, NUM_CATEGORICAL):
        raise ValueError(
            f"binary records need numerical ({n}, {NUM_NUMERICAL}) and categorical ({n}, {NUM_CATEGORICAL}), "
            f"got {numerical.shape} and {categorical.shape}"
        )
    if categorical.size and (categorical.min() < 0 or categorical.max() > np.iinfo(np.int32).max):
        raise ValueError("categorical ids must fit in int32 and be >= 0")
    records = np.empty((n, RECORD_WORDS), dtype=WORD)
    records[:, 0] = np.asarray(label).astype(WORD)
    records[:, 1:1 + NUM_NUMERICAL] = numerical.view(WORD)
    records[:, 1 + NUM_NUMERICAL:] = categorical
    return records


class BinaryWriter:
    """Appends records to one binary file; written to ``PATH.tmp`` and renamed on success."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self._tmp, "wb")
        self.samples = 0

    def write(self, label: np.ndarray, numerical: np.ndarray, categorical: np.ndarray) -> None:
        records = pack_records(label, numerical, categorical)
        self._file.write(records.tobytes())
        self.samples += len(records)

    def close(self) -> None:
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "BinaryWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.abort() if kind is not None else self.close()


def write_binary(path: Path, label: np.ndarray, numerical: np.ndarray, categorical: np.ndarray) -> None:
    """Write one whole binary file."""
    with BinaryWriter(path) as writer:
        writer.write(label, numerical, categorical)


def binary_file(directory: Path, split: str) -> Path:
    """The file of ``split`` in a binary dataset directory."""
    if split not in SPLIT_FILES:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_FILES)}")
    return Path(directory) / SPLIT_FILES[split]


def record_count(path: Path) -> int:
    """Records in ``path``; refuses a missing, empty or truncated file (size not a multiple of 160)."""
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            present = sorted(p.name for p in path.parent.iterdir())
            hint = f"; the directory holds: {', '.join(present[:12]) or '(nothing)'}"
        raise DatasetError(f"{path}: no such file (a binary dataset has {', '.join(SPLIT_FILES.values())}){hint}")
    if not path.is_file():
        raise DatasetError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise DatasetError(f"{path}: empty file; expected {RECORD_BYTES}-byte records")
    whole, rest = divmod(size, RECORD_BYTES)
    if rest:
        raise DatasetError(
            f"{path}: size {size} bytes is not a whole number of {RECORD_BYTES}-byte records: {whole} records "
            f"and {rest} bytes left over at offset {whole * RECORD_BYTES} (a truncated or foreign file)"
        )
    return whole


class BinaryFile:
    """One split of a binary dataset, read with ``pread`` (one read per batch, no seek)."""

    num_categorical = NUM_CATEGORICAL
    watch: FileWatch | None = None  # set by :meth:`watch_files` (a run's reader), checked by its streams

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.samples = record_count(self.path)
        self._fd = os.open(self.path, os.O_RDONLY)
        self._scratch = ScratchBuffers()
        self.bytes_read = ReadCounter()

    def watch_files(self) -> FileWatch:
        """Fingerprint the file now; a read that comes back short is then said to be the change it is."""
        self.watch = FileWatch([self.path])
        return self.watch

    def read(self, start: int, count: int, transient: bool = False) -> RawBatch:
        shape = (count, RECORD_WORDS)
        out = self._scratch.get(0, WORD, shape) if transient else None
        try:
            records = pread_array(self._fd, self.path, start * RECORD_BYTES, WORD, shape, out)
        except EOFError:
            if self.watch is not None:
                self.watch.check()  # names the file and what changed
            raise
        self.bytes_read.add(records)
        return split_records(records)

    def read_request(self, request: ReadRequest, transient: bool = False) -> RawBatch:
        """The records spanning what ``request`` names, read whole (a record holds every column: as in the
        reference, a rank that needs some columns of every row reads every row), then its columns."""
        first, stop = request.span()
        return request_columns(self.read(first, stop - first, transient), first, request)

    def memmap(self) -> np.ndarray:
        """The whole file as a zero-copy ``(samples, 40)`` int32 array (copy-on-write, never written)."""
        return np.memmap(self.path, dtype=WORD, mode="c", shape=(self.samples, RECORD_WORDS))

    def close(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


def split_records(records: np.ndarray) -> RawBatch:
    """Views of label, numerical (float32) and categorical columns of ``(n, 40)`` int32 records."""
    return RawBatch(
        label=records[:, 0],
        numerical=records[:, 1:1 + NUM_NUMERICAL].view("<f4"),
        categorical=records[:, 1 + NUM_NUMERICAL:],
    )


def request_columns(whole: RawBatch, first: int, request: ReadRequest) -> RawBatch:
    """What ``request`` names, cut from ``whole`` (the samples from ``first`` on, every column)."""
    def rows(span: tuple[int, int]) -> slice:
        return slice(span[0] - first, span[1] - first)

    ids = rows(request.ids)
    numerical = whole.numerical[rows(request.dense)] if request.dense is not None else \
        no_dense(ids.stop - ids.start, whole.numerical.dtype)
    categorical = whole.categorical[ids]
    if request.features is not None:
        if isinstance(categorical, np.ndarray):
            categorical = categorical[:, list(request.features)]
        else:
            categorical = [categorical[f] for f in request.features]
    return RawBatch(whole.label[rows(request.label)], numerical, categorical)
