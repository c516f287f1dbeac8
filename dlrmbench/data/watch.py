"""The data files a reader reads: fingerprinted when it opens them, watched while the run reads them.

A file made by another tool (MLPerf's ``.npy``/``.npz`` days, NVIDIA's ``.bin`` files) carries no record of
what it held. A reader takes one when it opens a file (size, modification time, a sampled digest: the rule of
:mod:`preproc.fingerprint`, which preprocess records its outputs with), the result keeps it (two runs on
different data are told apart by ``compare``), and the reader checks the file against it before every pass
and, when it reads through a memory map, before every batch: a file truncated or rewritten while a case reads
it is refused by name, never read short (a map of a shrunk file raises SIGBUS on the first page past the end).

The check before a pass is a ``stat`` of every file by its path (a file replaced by another is seen); the check
before a batch (:meth:`FileWatch.check_open`) is an ``fstat`` of a descriptor the watch holds on each file, the file
that is mapped (a truncation or rewrite in place, what would raise SIGBUS, is seen; about a microsecond a file,
several times cheaper than a path lookup: ``bench/data_watch.py``). The digest is read again only when a file's
modification time moved, and a file whose bytes are the same (touched, or copied over with the same bytes)
passes, as a copy that did not keep its times passes the split reader's check.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterable

from dlrmbench.data.errors import DatasetError

FIX = ("the run would read it short or different: leave the data alone while a case reads it, "
       "or restore the file and run the case again")


def fingerprint(path: Path) -> dict[str, Any]:
    """``{"bytes", "mtime_ns", "digest"}`` of one file (:func:`preproc.fingerprint.record`)."""
    from preproc.fingerprint import record  # stdlib only; preproc imports no dlrmbench

    return record(Path(path))


class FileWatch:
    """The fingerprints of the files one reader opened, and the check that they have not changed since.

    Thread-safe: prefetch threads check before their reads.
    """

    def __init__(self, paths: Iterable[Path] = ()) -> None:
        self._records: dict[Path, dict[str, Any]] = {}
        self._fds: dict[Path, int] = {}  # the opened files themselves, for the per-batch fstat
        self._lock = threading.Lock()
        self.add(paths)

    def add(self, paths: Iterable[Path]) -> None:
        """Fingerprint the files not watched yet; check the others (a reader reopening a file it read)."""
        for path in paths:
            path = Path(path)
            if path in self._records:
                self.check([path])
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
                record = fingerprint(path)
            except OSError as exc:
                raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc}); check the dataset path "
                                   "and its permissions") from None
            with self._lock:
                self._records[path], self._fds[path] = record, fd

    def check_open(self, paths: Iterable[Path] | None = None) -> None:
        """The per-batch check: refuse a watched file (of ``paths``; None: all) whose opened file changed size
        or time since it was opened (``fstat``, no path lookup); a moved time is judged by :meth:`check`."""
        with self._lock:
            chosen = list(self._fds.items()) if paths is None else \
                [(Path(p), self._fds[Path(p)]) for p in paths if Path(p) in self._fds]
            records = self._records
        for path, fd in chosen:
            stat = os.fstat(fd)
            record = records[path]
            if stat.st_size != record["bytes"]:
                raise DatasetError(f"{path}: changed since this run opened it ({stat.st_size:,} bytes now, "
                                   f"{record['bytes']:,} when it was opened); {FIX}")
            if stat.st_mtime_ns != record["mtime_ns"]:
                self.check([path])

    def close(self) -> None:
        """Close the descriptors the watch holds (the fingerprints stay)."""
        with self._lock:
            fds, self._fds = list(self._fds.values()), {}
        for fd in fds:
            os.close(fd)

    def __del__(self) -> None:
        if getattr(self, "_fds", None):
            self.close()

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """``{path: {"bytes", "mtime_ns", "digest"}}`` as taken at open (what the result records)."""
        with self._lock:
            return {str(path): dict(record) for path, record in self._records.items()}

    def check(self, paths: Iterable[Path] | None = None) -> None:
        """Refuse a watched file (of ``paths``; None: all) whose size changed, or whose modification time and
        digest both changed, since it was opened: a DatasetError naming the file, what changed and the fix."""
        from preproc.fingerprint import change

        with self._lock:
            chosen = list(self._records.items()) if paths is None else \
                [(Path(p), self._records[Path(p)]) for p in paths if Path(p) in self._records]
        for path, record in chosen:
            try:
                stat = os.stat(path)
            except OSError:
                stat = None
            if stat is not None and stat.st_size == record["bytes"] and stat.st_mtime_ns == record["mtime_ns"]:
                continue  # the cheap path: one stat
            why = change(path, record, when="opened")
            if why is not None:
                raise DatasetError(f"{path}: changed since this run opened it ({why}); {FIX}")
            with self._lock:  # the same bytes under a new time: remember the time, read the digest once
                record["mtime_ns"] = stat.st_mtime_ns if stat is not None else record["mtime_ns"]


def data_record(root: Path, watches: Iterable[FileWatch | None]) -> dict[str, Any]:
    """What a result keeps of the data a case read: ``{"path": root, "files": {name: fingerprint}}``, each
    file named relative to ``root`` (a copy of the data elsewhere has the same names)."""
    files: dict[str, dict[str, Any]] = {}
    for watch in watches:
        for path, record in (watch.fingerprints() if watch is not None else {}).items():
            try:
                name = Path(path).relative_to(root).as_posix()
            except ValueError:
                name = path
            files[name] = record
    return {"path": str(root), "files": dict(sorted(files.items()))}


def data_files(dataset: Any) -> dict[str, Any] | None:
    """The data record of a dataset (its optional ``data_files()``), None when it reads no files it watches."""
    files = getattr(dataset, "data_files", None)
    return files() if callable(files) else None
