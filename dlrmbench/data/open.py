"""Opening a dataset directory: detect its format, check its files, and return per-split sources.

Shared by the dataset plugins (in the worker), the planner's dataset check (in the parent, before
anything runs) and ``dlrmbench dataset inspect``. Numpy only: no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from dlrmbench.data import binary, model_size, split
from dlrmbench.data.errors import DatasetError
from dlrmbench.data.raw import SampleSource

Format = Literal["split", "binary"]


def detect_format(path: Path) -> Format:
    """``split`` (train/, test/ folders) or ``binary`` (``*_data.bin`` files)."""
    root = split.dataset_root(path)
    if any((root / s).is_dir() for s in split.SPLITS):
        return "split"
    if any((root / name).is_file() for name in binary.SPLIT_FILES.values()):
        return "binary"
    present = sorted(p.name for p in root.iterdir())
    raise DatasetError(
        f"{root}: neither a split dataset (model_size.json + train/, test/) nor a binary one "
        f"({', '.join(binary.SPLIT_FILES.values())}); it holds: {', '.join(present[:12])}"
    )


def table_sizes(path: Path, fmt: Format) -> list[int] | None:
    """Rows per table from ``model_size.json`` (required for split, optional for binary)."""
    root = split.dataset_root(path)
    json_path = root / model_size.FILE_NAME
    if fmt == "split" or json_path.exists():
        sizes = model_size.read_table_sizes(json_path)
        if fmt == "binary" and len(sizes) != binary.NUM_CATEGORICAL:
            raise DatasetError(f"{json_path}: {len(sizes)} features, but binary records hold "
                               f"{binary.NUM_CATEGORICAL} categorical ids")
        return sizes
    return None


def open_source(path: Path, fmt: Format, split_name: str, sizes: list[int] | None, *, memmap: bool = False,
                num_numerical: int = split.DEFAULT_NUM_NUMERICAL) -> SampleSource:
    """Open one split, checking that its files exist and agree (no value scan)."""
    from dlrmbench.data.memmap import MemmapBinaryFile, MemmapSplitFiles

    root = Path(path)
    if fmt == "binary":
        file = binary.binary_file(root, split_name)
        return MemmapBinaryFile(file) if memmap else binary.BinaryFile(file)
    if split_name not in split.SPLITS:
        raise DatasetError(f"unknown split {split_name!r}; expected one of {', '.join(split.SPLITS)}")
    if sizes is None:
        raise DatasetError(f"{root}: a split dataset needs model_size.json (its cat file dtypes depend on it)")
    cls = MemmapSplitFiles if memmap else split.SplitFiles
    return cls(root / split_name, sizes, num_numerical)


def scan_values(source: SampleSource, sizes: list[int] | None, ranges=None):  # -> SplitScan
    """Check labels, numerical values and ids of an opened source in one pass (``ranges``: only the sample
    ranges and features a rank reads, :meth:`~dlrmbench.data.share.BatchShare.epoch_ranges`; see
    :mod:`dlrmbench.data.validation.scan`)."""
    from dlrmbench.data.validation.scan import scan_binary_file, scan_split_files

    if isinstance(source, binary.BinaryFile):
        return scan_binary_file(source, sizes, ranges)
    return scan_split_files(source, sizes, ranges)  # type: ignore[arg-type]


def check_structure(path: Path, fmt: Format, splits: list[str], num_numerical: int = split.DEFAULT_NUM_NUMERICAL
                    ) -> list[int] | None:
    """Open and close ``splits`` (cheap: sizes and model_size.json only); return the table sizes."""
    sizes = table_sizes(path, fmt)
    for name in splits:
        source = open_source(path, fmt, name, sizes, num_numerical=num_numerical)
        source.close()  # type: ignore[attr-defined]
    return sizes
