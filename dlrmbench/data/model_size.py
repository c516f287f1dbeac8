"""``model_size.json``: the largest categorical id per feature, as the Spark preprocessing writes it.

An ordered JSON object ``{"_c14": N_14, ..., "_c39": N_39}`` (facts sheet 3.5). ``N`` is the
largest id (ids 1..N, 0 = missing or rare), so the embedding table of the feature has ``N + 1``
rows. Keys are the Criteo column names of the categorical features, in feature order.
"""

from __future__ import annotations

import json
from pathlib import Path

from dlrmbench.data.errors import DatasetError

FILE_NAME = "model_size.json"
FIRST_CATEGORICAL_COLUMN = 14
MAX_BYTES = 1 << 20  # thousands of features would still fit; refuse what cannot be one before parsing  # Criteo: _c0 label, _c1.._c13 numerical, _c14.._c39 categorical


def feature_keys(count: int) -> list[str]:
    """The JSON keys of ``count`` categorical features: ``_c14``, ``_c15``, ..."""
    return [f"_c{FIRST_CATEGORICAL_COLUMN + i}" for i in range(count)]


def read_max_ids(path: Path) -> list[int]:
    """The largest id of each feature, in file order; refuses a missing or malformed file."""
    if not path.is_file():
        raise DatasetError(
            f"{path}: missing: a split dataset needs its model_size.json (the largest id per categorical "
            f"feature, written by the preprocessing) next to its train/ and test/ folders"
        )
    if path.stat().st_size > MAX_BYTES:
        raise DatasetError(f"{path}: {path.stat().st_size:,} bytes; a model_size.json is a few hundred bytes "
                           f"(expected {{\"_c14\": N, ..., \"_c39\": N}})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}); expected {{\"_c14\": N, ..., \"_c39\": N}}") from None
    except RecursionError:
        raise DatasetError(f"{path}: nested too deeply to be a model_size.json; expected "
                           f"{{\"_c14\": N, ..., \"_c39\": N}}") from None
    if not isinstance(data, dict) or not data:
        raise DatasetError(
            f"{path}: expected a non-empty JSON object {{\"_c14\": N, ..., \"_c39\": N}}, found {type(data).__name__}"
        )
    expected = feature_keys(len(data))
    if list(data) != expected:
        for i, (key, want) in enumerate(zip(data, expected)):
            if key != want:
                raise DatasetError(f"{path}: key {i} is {key!r}, expected {want!r} (keys must be _c14, _c15, ... in order)")
    out = []
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**31 - 1:
            raise DatasetError(f"{path}: {key} is {repr(value)[:40]}; expected the largest id, an integer in "
                               f"[0, {2**31 - 2}] (categorical files hold int32 ids)")
        out.append(value)
    return out


def read_table_sizes(path: Path) -> list[int]:
    """Embedding table rows per feature: largest id + 1."""
    return [n + 1 for n in read_max_ids(path)]


def write_table_sizes(path: Path, table_sizes: list[int]) -> None:
    """Write ``model_size.json`` for tables of ``table_sizes`` rows (stores rows - 1), atomically."""
    from dlrmbench.results.store import atomic_write_text

    if any(int(s) < 1 for s in table_sizes):
        raise ValueError(f"table sizes must be >= 1, got {table_sizes}")
    data = {key: int(size) - 1 for key, size in zip(feature_keys(len(table_sizes)), table_sizes)}
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")
