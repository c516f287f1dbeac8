"""Zero-copy reading of split and binary files through ``np.memmap``.

The reference lists a ``memmap`` dataset type but never implemented it (facts sheet 3.3). Here a
batch is a slice of the mapped files: no read call and no intermediate buffer; the page cache is
the buffer. Files are opened and checked exactly like the ``pread`` readers (same errors).

A map of a file that shrank raises SIGBUS on the first page past its new end, which no Python code can
catch: a run's reader (:meth:`watch_files`) checks its files' size and modification time before every
batch (an ``fstat`` per file), so a file changed under the maps is refused by name before a page is touched.
"""

from __future__ import annotations

from pathlib import Path

from dlrmbench.data.binary import BinaryFile, split_records
from dlrmbench.data.raw import RawBatch, no_dense
from dlrmbench.data.share import ReadRequest
from dlrmbench.data.split import DEFAULT_NUM_NUMERICAL, SplitFiles


class MemmapSplitFiles(SplitFiles):
    """One split of a split dataset as memory maps; :meth:`read` returns views, never copies."""

    def __init__(self, directory: Path, table_sizes: list[int], num_numerical: int = DEFAULT_NUM_NUMERICAL) -> None:
        super().__init__(directory, table_sizes, num_numerical)
        self._label, self._numerical, self._cats = self.memmaps()
        self.close()  # the maps keep the files open

    def read(self, start: int, count: int, transient: bool = False) -> RawBatch:
        if self.watch is not None:
            self.watch.check_open()
        end = start + count
        batch = RawBatch(self._label[start:end], self._numerical[start:end], [c[start:end] for c in self._cats])
        self.bytes_read.add(batch.label, batch.numerical, *batch.categorical)
        return batch

    def read_request(self, request: ReadRequest, transient: bool = False) -> RawBatch:
        """Views of only the files and rows ``request`` names (only their pages are touched, only their files
        checked against the watch: a hybrid rank reads a few tables' files of many)."""
        (a, b), (i, j) = request.label, request.ids
        features = range(self.num_categorical) if request.features is None else request.features
        if self.watch is not None:  # split files: label, dense, then one file per feature
            dense = [self.paths[1]] if request.dense is not None else []
            self.watch.check_open([self.paths[0], *dense, *(self.paths[2 + f] for f in features)])
        numerical = self._numerical[request.dense[0]:request.dense[1]] if request.dense is not None else \
            no_dense(j - i, self._numerical.dtype)
        batch = RawBatch(self._label[a:b], numerical, [self._cats[f][i:j] for f in features])
        self.bytes_read.add(batch.label, batch.numerical, *batch.categorical)
        return batch


class MemmapBinaryFile(BinaryFile):
    """One binary file as a memory map; :meth:`read` returns column views of the mapped records."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._records = self.memmap()
        self.close()

    def read(self, start: int, count: int, transient: bool = False) -> RawBatch:
        if self.watch is not None:
            self.watch.check_open()
        records = self._records[start:start + count]
        self.bytes_read.add(records)
        return split_records(records)
