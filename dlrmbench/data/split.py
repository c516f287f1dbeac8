"""The reference's ``split`` format: one file per feature per split (facts sheet 3.2).

Layout::

    <dir>/model_size.json               largest id per categorical feature (table rows - 1)
    <dir>/<split>/label.bin             1 byte per sample (numpy bool)
    <dir>/<split>/numerical.bin         13 x float16 per sample, sample-major
    <dir>/<split>/cat_<i>.bin           one id per sample, int8 / int16 / int32 by table size

``<split>`` is ``train``, ``test`` or ``validation``. The categorical dtype follows the
reference's strict rule on the table size (rows = largest id + 1): int8 if rows < 127, int16 if
rows < 32767, else int32 (:func:`categorical_dtype`). The preprocessing writes exactly this.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from dlrmbench.data import model_size
from dlrmbench.data.errors import DatasetError
from dlrmbench.data.raw import RawBatch, ReadCounter, ScratchBuffers, no_dense, pread_array
from dlrmbench.data.share import ReadRequest
from dlrmbench.data.watch import FileWatch

SPLITS = ("train", "test", "validation")
LABEL = np.dtype("bool")
NUMERICAL = np.dtype("<f2")
DEFAULT_NUM_NUMERICAL = 13


def categorical_dtype(table_size: int) -> np.dtype:
    """The smallest dtype of a feature with ``table_size`` rows (reference: strict ``<`` iinfo.max)."""
    for dtype in (np.int8, np.int16):
        if table_size < np.iinfo(dtype).max:
            return np.dtype(dtype).newbyteorder("<")
    return np.dtype("<i4")


def file_names(num_categorical: int) -> list[str]:
    """The files of one split, in feature order."""
    return ["label.bin", "numerical.bin"] + [f"cat_{i}.bin" for i in range(num_categorical)]


class SplitWriter:
    """Appends samples to the files of one split of a split dataset.

    Use :func:`create_split_dataset` for a whole dataset. Ids are range-checked against the table
    sizes before anything is written, so a writer never produces a file its reader refuses.
    """

    def __init__(self, directory: Path, table_sizes: list[int], num_numerical: int = DEFAULT_NUM_NUMERICAL) -> None:
        self.directory = Path(directory)
        self.table_sizes = list(table_sizes)
        self.num_numerical = num_numerical
        self.dtypes = [categorical_dtype(s) for s in self.table_sizes]
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: list[BinaryIO] = [open(self.directory / name, "wb") for name in file_names(len(table_sizes))]
        self.samples = 0

    def write(self, label: np.ndarray, numerical: np.ndarray, categorical: np.ndarray) -> None:
        """Append ``label (n,)`` 0/1, ``numerical (n, 13)`` (cast to float16), ``categorical (n, F)`` ids."""
        n = len(label)
        numerical = np.asarray(numerical)
        categorical = np.asarray(categorical)
        if numerical.shape != (n, self.num_numerical) or categorical.shape != (n, len(self.table_sizes)):
            raise ValueError(
                f"expected numerical ({n}, {self.num_numerical}) and categorical ({n}, {len(self.table_sizes)}), "
                f"got {numerical.shape} and {categorical.shape}"
            )
        if n:
            low, high = categorical.min(axis=0), categorical.max(axis=0)
            bad = (low < 0) | (high >= np.asarray(self.table_sizes))
            if bad.any():
                f = int(np.argmax(bad))
                raise ValueError(f"categorical feature {f}: ids must be in [0, {self.table_sizes[f]}), "
                                 f"got [{low[f]}, {high[f]}]")
        self._files[0].write(np.asarray(label).astype(LABEL).tobytes())
        self._files[1].write(np.ascontiguousarray(numerical, dtype=NUMERICAL).tobytes())
        for f, dtype in enumerate(self.dtypes):
            self._files[2 + f].write(np.ascontiguousarray(categorical[:, f], dtype=dtype).tobytes())
        self.samples += n

    def close(self) -> None:
        for file in self._files:
            file.close()


class SplitDatasetWriter:
    """Writes a whole split dataset into ``directory``: built in ``DIR.tmp-<pid>``, renamed when done.

    Example::

        with SplitDatasetWriter(out, table_sizes) as w:
            w.split("train").write(label, numerical, categorical)
    """

    def __init__(self, directory: Path, table_sizes: list[int], num_numerical: int = DEFAULT_NUM_NUMERICAL) -> None:
        self.directory = Path(directory)
        self.table_sizes = list(table_sizes)
        self.num_numerical = num_numerical
        self._tmp = self.directory.with_name(f"{self.directory.name}.tmp-{os.getpid()}")
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir(parents=True)
        self._writers: dict[str, SplitWriter] = {}

    def split(self, name: str) -> SplitWriter:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        if name not in self._writers:
            self._writers[name] = SplitWriter(self._tmp / name, self.table_sizes, self.num_numerical)
        return self._writers[name]

    def write_text(self, name: str, text: str) -> None:
        """Add a small file (e.g. a provenance stamp) at the top of the dataset."""
        (self._tmp / name).write_text(text)

    def close(self) -> None:
        """Finish: write model_size.json and move the dataset into place (replacing an old one)."""
        for writer in self._writers.values():
            writer.close()
        model_size.write_table_sizes(self._tmp / model_size.FILE_NAME, self.table_sizes)
        old = self.directory.with_name(f"{self.directory.name}.old-{os.getpid()}")
        if self.directory.exists():  # moved aside, not deleted in place: a reader keeps its open files
            os.replace(self.directory, old)
        os.replace(self._tmp, self.directory)
        shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        for writer in self._writers.values():
            writer.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "SplitDatasetWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.abort() if kind is not None else self.close()


def write_split_dataset(directory: Path, table_sizes: list[int],
                        splits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Write ``{split: (label, numerical, categorical)}`` and model_size.json in one go."""
    num_numerical = next(iter(splits.values()))[1].shape[1] if splits else DEFAULT_NUM_NUMERICAL
    with SplitDatasetWriter(directory, table_sizes, num_numerical) as writer:
        for name, (label, numerical, categorical) in splits.items():
            writer.split(name).write(label, numerical, categorical)


# --- Reading ---------------------------------------------------------------------------------


def dataset_root(path: Path) -> Path:
    """Refuse a missing path or an empty directory, with what a dataset directory should hold."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such directory; dataset.options.path must name a dataset directory "
                           f"(split: model_size.json + train/, test/; binary: train_data.bin, test_data.bin)")
    if not path.is_dir():
        raise DatasetError(f"{path}: not a directory; a dataset is a directory (split: model_size.json, "
                           f"train/, test/; binary: train_data.bin, test_data.bin)")
    if not any(path.iterdir()):
        raise DatasetError(f"{path}: empty directory; expected model_size.json and train/, test/ folders "
                           f"(split) or train_data.bin, test_data.bin (binary)")
    return path


def split_sample_counts(directory: Path, table_sizes: list[int], num_numerical: int) -> dict[str, tuple[int, int]]:
    """``{file name: (bytes, samples)}`` of one split folder; refuses missing files and partial samples."""
    if not directory.is_dir():
        present = sorted(p.name for p in directory.parent.iterdir()) if directory.parent.is_dir() else []
        raise DatasetError(f"{directory}: no such split folder (the dataset holds: {', '.join(present) or 'nothing'})")
    widths = [LABEL.itemsize, NUMERICAL.itemsize * num_numerical] + [categorical_dtype(s).itemsize for s in table_sizes]
    counts: dict[str, tuple[int, int]] = {}
    for name, width in zip(file_names(len(table_sizes)), widths):
        path = directory / name
        if not path.is_file():
            raise DatasetError(f"{path}: missing; a split folder holds {', '.join(file_names(len(table_sizes))[:3])} "
                               f"... cat_{len(table_sizes) - 1}.bin (one cat file per model_size.json entry)")
        size = path.stat().st_size
        whole, rest = divmod(size, width)
        if rest:
            raise DatasetError(f"{path}: size {size} bytes is not a whole number of {width}-byte samples "
                               f"({whole} samples and {rest} bytes at offset {whole * width}: a truncated file?)")
        counts[name] = (size, whole)
    _check_no_extra_features(directory, len(table_sizes))
    check_unchanged(directory, list(counts))
    return counts


def check_unchanged(directory: Path, names: list[str]) -> None:
    """Refuse a split file changed since ``preprocess`` wrote it (its manifest's ``outputs`` record)."""
    import json

    from preproc.fingerprint import change  # the writer's rule, stdlib only (preproc imports no dlrmbench)
    from preproc.state import MANIFEST  # written last beside the splits, with every file's fingerprint

    manifest = directory.parent / MANIFEST
    try:
        if not manifest.is_file() or manifest.stat().st_size > 16 << 20:
            return
        outputs = json.loads(manifest.read_text(encoding="utf-8")).get("outputs")
    except (OSError, ValueError, AttributeError):
        return  # not ours to judge: the readers check the files themselves
    if not isinstance(outputs, dict):
        return  # written before fingerprints were recorded
    for name in names:
        why = change(directory / name, outputs.get(f"{directory.name}/{name}"))
        if why is not None:
            raise DatasetError(
                f"{directory / name}: changed since preprocess wrote it ({why}; recorded in {manifest}); it would "
                "be read short or different: restore the file, or rerun dlrmbench preprocess into a new folder")


def _check_no_extra_features(directory: Path, num_categorical: int) -> None:
    """Refuse cat files that model_size.json does not list: training would silently drop them."""
    expected = {f"cat_{i}.bin" for i in range(num_categorical)}
    extra = sorted((p.name for p in directory.glob("cat_*.bin") if p.name not in expected),
                   key=lambda n: (len(n), n))
    if extra:
        shown = ", ".join(extra[:6]) + (f" and {len(extra) - 6} more" if len(extra) > 6 else "")
        raise DatasetError(
            f"{directory}: holds {shown}, which {model_size.FILE_NAME} does not list (it lists "
            f"{num_categorical} categorical features: cat_0.bin .. cat_{num_categorical - 1}.bin); the metadata and "
            f"the files must agree: fix {model_size.FILE_NAME} (one _cN key per cat file) or remove the extra files"
        )


def check_counts_agree(directory: Path, counts: dict[str, tuple[int, int]], table_sizes: list[int]) -> int:
    """The common sample count of a split's files; names every file that disagrees."""
    ranked = Counter(samples for _, samples in counts.values()).most_common()
    expected = ranked[0][0]  # the majority; on a tie, label.bin's
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        expected = counts["label.bin"][1]
    wrong = [(name, size, samples) for name, (size, samples) in counts.items() if samples != expected]
    if wrong:
        details = []
        for name, size, samples in wrong:
            width = size // samples if samples else _width(name, table_sizes)
            hint = ""
            if name.startswith("cat_"):
                f = int(name[4:-4])
                actual_width = size / expected if expected else 0
                if actual_width in (1, 2, 4) and actual_width != categorical_dtype(table_sizes[f]).itemsize:
                    hint = (f" -- {int(actual_width)} bytes per sample would match: written with another dtype "
                            f"rule? table size {table_sizes[f]} means {categorical_dtype(table_sizes[f]).name}")
            details.append(f"{name} holds {samples} samples ({size} bytes, {width} bytes/sample), "
                           f"expected {expected}{hint}")
        raise DatasetError(f"{directory}: feature files disagree on the sample count (truncated or mismatched): "
                           + "; ".join(details))
    if expected == 0:
        raise DatasetError(f"{directory}: the split holds no samples (label.bin is empty)")
    return expected


def _width(name: str, table_sizes: list[int]) -> int:
    if name == "label.bin":
        return 1
    if name == "numerical.bin":
        return 2 * DEFAULT_NUM_NUMERICAL
    return categorical_dtype(table_sizes[int(name[4:-4])]).itemsize


class SplitFiles:
    """One split of a split dataset, opened and checked for agreement; read with ``pread``.

    Args:
        directory: the split folder (``<dataset>/train``).
        table_sizes: rows per table, from model_size.json (they decide the cat file dtypes).
    """

    def __init__(self, directory: Path, table_sizes: list[int], num_numerical: int = DEFAULT_NUM_NUMERICAL) -> None:
        self.directory = Path(directory)
        self.table_sizes = list(table_sizes)
        self.num_numerical = num_numerical
        self.num_categorical = len(table_sizes)
        self.dtypes = [categorical_dtype(s) for s in table_sizes]
        counts = split_sample_counts(self.directory, self.table_sizes, num_numerical)
        self.samples = check_counts_agree(self.directory, counts, self.table_sizes)
        self.paths = [self.directory / name for name in file_names(self.num_categorical)]
        self._fds = [os.open(p, os.O_RDONLY) for p in self.paths]
        self._scratch = ScratchBuffers()
        self.bytes_read = ReadCounter()
        self.watch: FileWatch | None = None  # set by :meth:`watch_files` (a run's reader)

    def watch_files(self) -> FileWatch:
        """Fingerprint the split's files now; a read that comes back short is then said to be the change it is."""
        self.watch = FileWatch(self.paths)
        return self.watch

    def _pread(self, i: int, dtype: np.dtype, shape: tuple[int, ...], offset: int, transient: bool) -> np.ndarray:
        out = self._scratch.get(i, dtype, shape) if transient else None
        try:
            return pread_array(self._fds[i], self.paths[i], offset, dtype, shape, out)
        except EOFError:
            if self.watch is not None:
                self.watch.check([self.paths[i]])  # names the file and what changed
            raise

    def read(self, start: int, count: int, transient: bool = False) -> RawBatch:
        def pread(i: int, dtype: np.dtype, shape: tuple[int, ...], offset: int) -> np.ndarray:
            return self._pread(i, dtype, shape, offset, transient)

        label = pread(0, LABEL, (count,), start)
        numerical = pread(1, NUMERICAL, (count, self.num_numerical), start * NUMERICAL.itemsize * self.num_numerical)
        categorical = [pread(2 + f, dtype, (count,), start * dtype.itemsize) for f, dtype in enumerate(self.dtypes)]
        self.bytes_read.add(label, numerical, *categorical)
        return RawBatch(label, numerical, categorical)

    def read_request(self, request: ReadRequest, transient: bool = False) -> RawBatch:
        """Only the files and rows ``request`` names (the reference's ranks open only their own cat files,
        and numerical.bin only on the bottom MLP's rank)."""
        def pread(i: int, dtype: np.dtype, shape: tuple[int, ...], offset: int) -> np.ndarray:
            return self._pread(i, dtype, shape, offset, transient)

        (a, b), (i, j) = request.label, request.ids
        label = pread(0, LABEL, (b - a,), a)
        if request.dense is None:
            numerical = no_dense(j - i, NUMERICAL)
        else:
            c, d = request.dense
            numerical = pread(1, NUMERICAL, (d - c, self.num_numerical), c * NUMERICAL.itemsize * self.num_numerical)
        features = range(self.num_categorical) if request.features is None else request.features
        categorical = [pread(2 + f, self.dtypes[f], (j - i,), i * self.dtypes[f].itemsize) for f in features]
        self.bytes_read.add(label, numerical, *categorical)
        return RawBatch(label, numerical, categorical)

    def memmaps(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Zero-copy (copy-on-write, never written) arrays of label, numerical and each cat file."""
        n = self.samples
        label = np.memmap(self.paths[0], dtype=LABEL, mode="c", shape=(n,))
        numerical = np.memmap(self.paths[1], dtype=NUMERICAL, mode="c", shape=(n, self.num_numerical))
        cats = [np.memmap(p, dtype=d, mode="c", shape=(n,)) for p, d in zip(self.paths[2:], self.dtypes)]
        return label, numerical, cats

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def __del__(self) -> None:
        if getattr(self, "_fds", None):
            self.close()


def open_split_dataset(path: Path) -> list[int]:
    """Check the dataset directory and return its table sizes (model_size.json + 1)."""
    root = dataset_root(path)
    return model_size.read_table_sizes(root / model_size.FILE_NAME)
