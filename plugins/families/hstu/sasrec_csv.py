"""The ``sasrec_csv`` format: GR's preprocessed MovieLens / Amazon Books file (``sasrec_format.csv``).

Layout (GR ``research/data/preprocessor.py``, ``to_seq_data`` and ``preprocess_rating``): a header, then one row
per user with columns ``index, user_id, sequence_item_ids, sequence_ratings, sequence_timestamps`` (ML-1M adds
``sex, age_group, occupation, zip_code``; they are ignored here). Each sequence is one comma-joined string of
integers in timestamp order; rows are shuffled. MovieLens ids are not remapped (1..max id); Amazon Books ids
start at 0 and the reference shifts them by +1 at load (``shift_id_by=1``), which ``shift_ids`` does here.

Every row is checked before training, and a bad one is refused with the file, the line and the field.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlrmbench.data.errors import DatasetError
from dlrmbench_plugins.families.hstu.config import MIN_LENGTH

if TYPE_CHECKING:
    from dlrmbench_plugins.families.hstu.sequences import UserSequences

REQUIRED = ("user_id", "sequence_item_ids", "sequence_ratings", "sequence_timestamps")
MAX_FILE_BYTES = 64 << 30
FILE_NAME = "sasrec_format.csv"  # the reference's output name (preprocessor.py output_format_csv)


def looks_like_sasrec_csv(path: Path) -> bool:
    """True when the first line is a header holding the four sequence columns (the format detector)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader([f.readline()]))
    except (OSError, UnicodeDecodeError, StopIteration):
        return False
    return all(c in header for c in REQUIRED)


def _ints(text: str, path: Path, line: int, field: str) -> list[int]:
    text = text.strip().strip("[]")
    if not text:
        raise DatasetError(f"{path}: line {line}: field {field!r} is empty; every user needs at least "
                           f"{MIN_LENGTH} interactions (drop shorter users when preprocessing)")
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        bad = next(v for v in text.split(",") if not v.strip().lstrip("-").isdigit())
        raise DatasetError(f"{path}: line {line}: field {field!r} holds {bad.strip()[:40]!r}, not an integer; "
                           "expected comma-joined integers such as \"1193,661,914\"") from None


def detect_folder(path: Path) -> bool:
    """``--dataset-path`` detector: a folder holding the reference's sasrec_format.csv."""
    return (path / FILE_NAME).is_file() and looks_like_sasrec_csv(path / FILE_NAME)


def inspect_folder(path: Path, scan: bool) -> dict[str, Any]:
    """``dataset inspect``: users and interactions of the folder's file, and the first problem found."""
    try:
        data = read_sasrec_csv(path)
    except DatasetError as err:
        return {"path": str(path), "format": "sasrec_csv", "table_sizes": None, "splits": {},
                "problems": [str(err)], "ok": False}
    users = data.num_users
    return {"path": str(path), "format": "sasrec_csv", "table_sizes": [data.num_items + 1],
            "splits": {"train": {"samples": users}, "test": {"samples": users}},
            "interactions": int(data.offsets[-1]), "problems": [], "ok": True}


def read_sasrec_csv(path: str | Path, num_items: int | None = None, shift_ids: int = 0) -> "UserSequences":
    """Read and check a sasrec_format.csv.

    Args:
        path: the file, or a folder holding sasrec_format.csv.
        num_items: the largest valid item id (after ``shift_ids``); None: the largest id in the file.
        shift_ids: added to every item id (1 for Amazon Books, as the reference).

    Raises:
        DatasetError: a missing column, a non-integer or empty sequence, sequences of unequal length, an id out
            of range, a timestamp earlier than the one before it, or a user with fewer than 3 items.
    """
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; give the reference's tmp/<dataset>/sasrec_format.csv")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DatasetError(f"{path}: {path.stat().st_size} bytes is more than this reader accepts "
                           f"({MAX_FILE_BYTES} bytes)")
    ids: list[int] = []
    timestamps: list[int] = []
    ratings: list[int] = []
    lengths: list[int] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: line 1: missing column(s) {', '.join(missing)}; a sasrec_format.csv "
                               f"header has {', '.join(REQUIRED)}")
        for row in reader:
            line = reader.line_num
            item = _ints(row["sequence_item_ids"] or "", path, line, "sequence_item_ids")
            rating = _ints(row["sequence_ratings"] or "", path, line, "sequence_ratings")
            stamp = _ints(row["sequence_timestamps"] or "", path, line, "sequence_timestamps")
            if not len(item) == len(rating) == len(stamp):
                raise DatasetError(f"{path}: line {line}: sequence_item_ids has {len(item)} values, "
                                   f"sequence_ratings {len(rating)}, sequence_timestamps {len(stamp)}; "
                                   "the three must have one value per interaction")
            if len(item) < MIN_LENGTH:
                raise DatasetError(f"{path}: line {line}: field 'sequence_item_ids' has {len(item)} item(s); the "
                                   f"leave-one-out split needs at least {MIN_LENGTH} per user (drop shorter users)")
            back = next((i for i in range(1, len(stamp)) if stamp[i] < stamp[i - 1]), None)
            if back is not None:
                raise DatasetError(f"{path}: line {line}: field 'sequence_timestamps' goes back in time at "
                                   f"position {back} ({stamp[back - 1]} then {stamp[back]}); sort each user's "
                                   "interactions by timestamp")
            item = [v + shift_ids for v in item]
            low = min(item)
            if low < 1:
                raise DatasetError(f"{path}: line {line}: field 'sequence_item_ids' holds id {low - shift_ids}; "
                                   "ids must be >= 1 (0 is padding; Amazon Books ids need shift_ids: 1)")
            if num_items is not None and max(item) > num_items:
                raise DatasetError(f"{path}: line {line}: field 'sequence_item_ids' holds id {max(item)} > "
                                   f"num_items {num_items}; raise num_items or fix the file")
            ids += item
            ratings += rating
            timestamps += stamp
            lengths.append(len(item))
    import torch

    from dlrmbench_plugins.families.hstu.sequences import UserSequences

    if not lengths:
        raise DatasetError(f"{path}: no users (only a header); a sasrec_format.csv has one row per user")
    id_tensor = torch.tensor(ids, dtype=torch.int64)
    offsets = torch.zeros(len(lengths) + 1, dtype=torch.int64)
    torch.cumsum(torch.tensor(lengths), 0, out=offsets[1:])
    return UserSequences(ids=id_tensor, timestamps=torch.tensor(timestamps, dtype=torch.int64),
                         ratings=torch.tensor(ratings, dtype=torch.int64), offsets=offsets,
                         num_items=num_items if num_items is not None else int(id_tensor.max()),
                         all_item_ids=torch.unique(id_tensor))
