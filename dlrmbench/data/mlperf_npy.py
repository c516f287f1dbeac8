"""The MLPerf DLRMv2 preprocessed Criteo 1TB layout: per-day ``.npy`` files, memory-mapped (numpy only).

Layout (TorchRec ``torchrec/datasets/criteo.py`` ``BinaryCriteoUtils.tsv_to_npys`` and the MLPerf
reference ``mlcommons/training:recommendation_v2/torchrec_dlrm/data/multi_hot_criteo.py``):

- ``day_N_labels.npy``: int32 ``(rows, 1)``, 0 or 1;
- ``day_N_dense.npy``: float32 ``(rows, 13)``, already ``log(x + 3)``;
- ``day_N_sparse.npy``: int32 ``(rows, 26)``, one id per feature (hashed ``% rows of the table`` when read,
  as the reference does);
- ``day_N_sparse_multi_hot.npz`` (optional, from ``materialize_synthetic_multihot_dataset.py``): an
  uncompressed ``.npz`` with members ``0.npy`` .. ``25.npy``, member ``f`` int32 ``(rows, hotness_f)``.

Splits, as the reference: the last day present is the evaluation day (day 23 in the full data); its
first ``ceil(rows / 2)`` rows are the reference's ``val`` split, which MLPerf evaluates on
(89,137,319 samples) and which dlrmbench calls ``test``; every other day is ``train``, in day order.
"""

from __future__ import annotations

import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlrmbench.data.errors import DatasetError

NUM_DENSE, NUM_SPARSE = 13, 26
DAY_FILE = re.compile(r"^day_(\d+)_labels\.npy$")
KINDS = ("labels", "dense", "sparse")
EXPECTED = {"labels": (np.dtype(np.int32), 1), "dense": (np.dtype(np.float32), NUM_DENSE),
            "sparse": (np.dtype(np.int32), NUM_SPARSE)}
ZIP_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes, PKZIP APPNOTE 4.3.7


def day_path(root: Path, day: int, kind: str) -> Path:
    return root / (f"day_{day}_sparse_multi_hot.npz" if kind == "multi_hot" else f"day_{day}_{kind}.npy")


def day_files(root: Path, day: int, multi_hot_npz: bool = False) -> list[Path]:
    """The files one day is read from: labels, dense, sparse (and the multi-hot ``.npz``)."""
    return [day_path(root, day, kind) for kind in KINDS + (("multi_hot",) if multi_hot_npz else ())]


def days_present(root: Path) -> list[int]:
    """Day numbers with a ``day_N_labels.npy`` file, ascending."""
    if not root.is_dir():
        return []
    return sorted(int(m.group(1)) for p in root.iterdir() if (m := DAY_FILE.match(p.name)))


def is_mlperf_npy(root: Path) -> bool:
    """True when ``root`` holds the MLPerf per-day ``.npy`` layout (at least one ``day_N_labels.npy``)."""
    return bool(days_present(root))


def _npy_header(path: Path, fh, what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fh)
        return np.lib.format.read_array_header_2_0(fh)  # 2.0 and 3.0 share the 4-byte header length
    except (ValueError, OSError, SyntaxError) as exc:
        raise DatasetError(f"{path}{what}: not a valid .npy file ({exc}); regenerate it with the reference "
                           "preprocessing script") from None


def open_npy(path: Path, dtype: np.dtype, columns: int) -> np.memmap:
    """Memory-map one ``.npy`` file after checking its dtype, 2-d shape, column count and byte size."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing (each day needs day_N_labels.npy, day_N_dense.npy and day_N_sparse.npy)")
    with open(path, "rb") as fh:
        shape, fortran, found = _npy_header(path, fh, "")
        offset = fh.tell()
    _check_array(path, "", shape, fortran, found, dtype, columns)
    size = path.stat().st_size
    needed = offset + int(np.prod(shape)) * dtype.itemsize
    if size < needed:
        raise DatasetError(f"{path}: truncated: header says shape {shape} ({needed:,} bytes) but the file has "
                           f"{size:,} bytes; copy or regenerate it")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def _check_array(path: Path, member: str, shape: tuple[int, ...], fortran: bool, found: np.dtype,
                 dtype: np.dtype, columns: int | None) -> None:
    where = f"{path}{member}"
    if found != dtype:
        raise DatasetError(f"{where}: dtype {found}, expected {dtype} (the MLPerf preprocessed layout)")
    if len(shape) != 2 or (columns is not None and shape[1] != columns):
        want = f"(rows, {columns})" if columns is not None else "(rows, hotness)"
        raise DatasetError(f"{where}: shape {shape}, expected {want}")
    if fortran:
        raise DatasetError(f"{where}: Fortran-ordered array; the reader needs C order (save with np.save)")


def open_multi_hot_npz(path: Path, hotness: list[int] | None = None) -> list[np.memmap]:
    """Memory-map the 26 members of a ``day_N_sparse_multi_hot.npz`` (uncompressed, int32 ``(rows, h_f)``)."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing (multi_hot: npz reads the materialised multi-hot files; use "
                           "multi_hot: generate to make the ids on the fly from day_N_sparse.npy)")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: not a valid .npz (zip) file ({exc})") from None
    out = []
    with archive, open(path, "rb") as fh:
        names = set(archive.namelist())
        for f in range(NUM_SPARSE):
            member = f"{f}.npy"
            if member not in names:
                raise DatasetError(f"{path}: member {member} missing; expected 0.npy .. {NUM_SPARSE - 1}.npy "
                                   "(np.savez(file, **{str(f): ids_f}))")
            info = archive.getinfo(member)
            if info.compress_type != zipfile.ZIP_STORED:
                raise DatasetError(f"{path}[{member}]: compressed; the reader memory-maps members, so write the "
                                   "file with np.savez, not np.savez_compressed")
            fh.seek(info.header_offset)
            fields = ZIP_LOCAL_HEADER.unpack(fh.read(ZIP_LOCAL_HEADER.size))
            fh.seek(info.header_offset + ZIP_LOCAL_HEADER.size + fields[9] + fields[10])
            shape, fortran, found = _npy_header(path, fh, f"[{member}]")
            _check_array(path, f"[{member}]", shape, fortran, found, np.dtype(np.int32), None)
            if hotness is not None and shape[1] != hotness[f]:
                raise DatasetError(f"{path}[{member}]: hotness {shape[1]}, but multi_hot_sizes[{f}] is {hotness[f]}")
            header_bytes = fh.tell() - (info.header_offset + ZIP_LOCAL_HEADER.size + fields[9] + fields[10])
            needed = header_bytes + int(np.prod(shape)) * 4
            if needed > info.file_size:  # checked before mapping: the header's shape is only a claim
                raise DatasetError(f"{path}[{member}]: truncated: header says shape {shape} ({needed:,} bytes) but "
                                   f"the member holds {info.file_size:,} bytes; copy or regenerate it")
            out.append(np.memmap(path, dtype=np.int32, mode="r", offset=fh.tell(), shape=shape))
    return out


@dataclass
class Day:
    """One day's memory-mapped arrays and the row range of it that a split uses."""

    day: int
    labels: np.ndarray
    dense: np.ndarray
    sparse: np.ndarray
    multi_hot: list[np.ndarray] | None
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


def open_day(root: Path, day: int, multi_hot_npz: bool = False, hotness: list[int] | None = None) -> Day:
    """Open and cross-check one day's files (all must have the same number of rows)."""
    arrays = {kind: open_npy(day_path(root, day, kind), *EXPECTED[kind]) for kind in KINDS}
    rows = arrays["labels"].shape[0]
    for kind in ("dense", "sparse"):
        if arrays[kind].shape[0] != rows:
            raise DatasetError(f"{day_path(root, day, kind)}: {arrays[kind].shape[0]:,} rows, but "
                               f"{day_path(root, day, 'labels').name} has {rows:,}")
    multi = None
    if multi_hot_npz:
        multi = open_multi_hot_npz(day_path(root, day, "multi_hot"), hotness)
        for f, member in enumerate(multi):
            if member.shape[0] != rows:
                raise DatasetError(f"{day_path(root, day, 'multi_hot')}[{f}.npy]: {member.shape[0]:,} rows, "
                                   f"but day_{day}_labels.npy has {rows:,}")
    return Day(day, arrays["labels"], arrays["dense"], arrays["sparse"], multi, 0, rows)


def split_days(root: Path, split: str, multi_hot_npz: bool = False, hotness: list[int] | None = None) -> list[Day]:
    """The days (and row ranges) of ``split``: ``train`` = all days but the last, ``test`` = the first
    half (rounded up) of the last day, the reference's validation set."""
    days = days_present(root)
    if not days:
        raise DatasetError(f"{root}: no day_N_labels.npy files (not the MLPerf preprocessed Criteo layout)")
    if len(days) < 2:
        raise DatasetError(f"{root}: only day {days[0]}; the layout needs training days and a last day to "
                           "evaluate on (the reference: days 0-22 train, day 23 evaluation)")
    if split == "train":
        return [open_day(root, d, multi_hot_npz, hotness) for d in days[:-1]]
    if split == "test":
        last = open_day(root, days[-1], multi_hot_npz, hotness)
        last.stop = (last.stop + 1) // 2
        return [last]
    raise DatasetError(f"unknown split {split!r}; expected train or test")


def check_values(day_file: Path, first_row: int, labels: np.ndarray, dense: np.ndarray) -> None:
    """Refuse labels other than 0/1 and non-finite dense values, naming the file, row and column."""
    bad = ~np.isfinite(dense)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise DatasetError(f"{day_file.parent / day_file.name.replace('labels', 'dense')}: dense feature {col} of "
                           f"row {first_row + row:,} is {dense[row, col]} (NaN/inf); the preprocessed values are "
                           "log(x + 3) and finite; regenerate the file")
    wrong = (labels != 0) & (labels != 1)
    if wrong.any():
        row = int(np.argwhere(wrong.reshape(-1))[0][0])
        raise DatasetError(f"{day_file}: label of row {first_row + row:,} is {int(labels.reshape(-1)[row])}, "
                           "expected 0 or 1")
