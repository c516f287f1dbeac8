"""The raw Criteo line layout and the output format constants (one place for both)."""

from __future__ import annotations

NUM_INT = 13
NUM_CAT = 26
NUM_FIELDS = 1 + NUM_INT + NUM_CAT  # label, I1..I13, C1..C26

#: Names of the raw fields as the Criteo README spells them (used in messages).
FIELD_NAMES = ["label"] + [f"I{i}" for i in range(1, NUM_INT + 1)] + [f"C{i}" for i in range(1, NUM_CAT + 1)]
#: model_size.json keys: the reference's Spark column names of the categorical fields.
CAT_KEYS = [f"_c{14 + j}" for j in range(NUM_CAT)]

SPLITS = ("train", "test", "validation")
BIN_FILES = ["label.bin", "numerical.bin"] + [f"cat_{j}.bin" for j in range(NUM_CAT)]

#: Patterns end with \z (absolute end): Java's `$` would also match before a trailing CR.
#: Integer fields: optional minus, 1..18 digits (always fits in int64). Categorical: 8 lowercase hex digits.
INT_PATTERN = r"-?[0-9]{1,18}"
CAT_PATTERN = r"[0-9a-f]{8}"
LINE_PATTERN = (
    r"^[01]" + rf"(\t({INT_PATTERN})?){{{NUM_INT}}}" + rf"(\t({CAT_PATTERN})?){{{NUM_CAT}}}\z"
)


def cat_dtype(model_size_value: int) -> str:
    """numpy dtype string of a cat_i.bin file, from the table size S = N + 1 (strict '<' as the reader)."""
    size = model_size_value + 1
    if size < 127:
        return "<i1"
    if size < 32767:
        return "<i2"
    return "<i4"
