"""The numpy form of a run of samples, as every reader returns it before torch sees it."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence, Union

import numpy as np

if TYPE_CHECKING:
    from dlrmbench.data.share import ReadRequest

Categorical = Union[np.ndarray, Sequence[np.ndarray]]


@dataclass
class RawBatch:
    """Samples ``[start, start + count)`` of a split, in their file dtypes.

    Attributes:
        label: ``(count,)`` bool or int32 (0/1).
        numerical: ``(count, N)`` float16 or float32 (possibly a strided view).
        categorical: ``(count, F)`` integer array, or ``F`` arrays of ``(count,)`` (one per feature file).
    """

    label: np.ndarray
    numerical: np.ndarray
    categorical: Categorical

    @property
    def size(self) -> int:
        return int(self.label.shape[0])

    def categorical_matrix(self) -> np.ndarray:
        """``(count, F)`` int64 (a copy): for tests and tools, not the hot path."""
        if isinstance(self.categorical, np.ndarray):
            return self.categorical.astype(np.int64)
        return np.stack([np.asarray(c, dtype=np.int64) for c in self.categorical], axis=1)


class SampleSource(Protocol):
    """Random access to the samples of one split (train, test or validation).

    ``bytes_read``: a :class:`ReadCounter` of the bytes its reads returned (host reading, per process).
    """

    samples: int
    num_categorical: int
    bytes_read: "ReadCounter"

    def read(self, start: int, count: int, transient: bool = False) -> RawBatch:
        """Samples ``[start, start + count)``. ``transient``: the arrays may be reused by this
        thread's next read (for callers that copy them out at once, as the batch conversion does)."""
        ...

    def read_request(self, request: "ReadRequest", transient: bool = False) -> RawBatch:
        """Only what ``request`` names (a rank's share of a global batch): its labels, dense rows (an empty
        ``(ids rows, 0)`` block when none) and its features' ids."""
        ...


class ReadCounter:
    """Bytes read from a dataset's files by this process (thread-safe: prefetch threads add to it)."""

    def __init__(self) -> None:
        self.bytes = 0
        self._lock = threading.Lock()

    def add(self, *arrays: np.ndarray) -> None:
        with self._lock:
            self.bytes += sum(int(a.nbytes) for a in arrays)


def no_dense(rows: int, dtype: np.dtype) -> np.ndarray:
    """The dense block of a share that reads no dense features: ``(rows, 0)``."""
    return np.empty((rows, 0), dtype=dtype)


class ScratchBuffers(threading.local):
    """Per-thread read buffers, reused from batch to batch (fresh memory costs page faults)."""

    def __init__(self) -> None:
        self.buffers: dict[int, np.ndarray] = {}

    def get(self, slot: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        buffer = self.buffers.get(slot)
        if buffer is None or buffer.nbytes < nbytes:
            buffer = self.buffers[slot] = np.empty(nbytes, dtype=np.uint8)
        return buffer[:nbytes].view(dtype).reshape(shape)


def pread_array(fd: int, path: Path, offset: int, dtype: np.dtype, shape: tuple[int, ...],
                out: np.ndarray | None = None) -> np.ndarray:
    """Read an array of ``shape`` at byte ``offset`` of an open file, into ``out`` or a fresh buffer."""
    out = np.empty(shape, dtype=dtype) if out is None else out
    want = out.nbytes
    if want == 0:  # a rank's empty share of a short batch
        return out
    view = memoryview(out).cast("B")
    got = 0
    while got < want:
        n = os.preadv(fd, [view[got:]], offset + got)
        if n == 0:
            raise EOFError(f"{path}: ended at byte {offset + got}; expected {want - got} more bytes "
                           f"(the file shrank after it was opened?)")
        got += n
    return out
