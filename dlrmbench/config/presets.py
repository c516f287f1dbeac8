"""Named embedding-table-size presets, so suites write ``model.table_sizes: criteo_fl15``.

The lists are the Criteo Terabyte per-feature cardinalities (table rows, cat_0 .. cat_25) of the
reference's model sizes (reference/nvidia-dlrm-facts.md section 4):

- ``criteo_fl15``: frequency threshold 15, the README's "small" model (~15 GB at dim 128), section 4.1.
- ``criteo_fl3``: frequency threshold 3, the README's "large" model (~82 GB at dim 128), section 4.2.

A preset name is resolved by the suite schema when the case is validated, so every stored case
config holds the full list.
"""

from __future__ import annotations

from dlrmbench.errors import did_you_mean

TABLE_SIZE_PRESETS: dict[str, tuple[int, ...]] = {
    "criteo_fl15": (
        7912889, 33823, 17139, 7339, 20046, 4, 7105, 1382, 63, 5554114, 582469, 245828, 11,
        2209, 10667, 104, 4, 968, 15, 8165896, 2675940, 7156453, 302516, 12022, 97, 35,
    ),
    "criteo_fl3": (
        45833188, 36747, 17246, 7414, 20244, 4, 7115, 1442, 63, 29275261, 1572176, 345139, 11,
        2209, 11268, 128, 4, 975, 15, 48937457, 11316796, 40094537, 452104, 12607, 105, 36,
    ),
}


def table_size_preset(name: str) -> list[int]:
    """The table sizes of preset ``name``; ValueError naming the valid presets otherwise."""
    try:
        return list(TABLE_SIZE_PRESETS[name])
    except KeyError:
        choices = sorted(TABLE_SIZE_PRESETS)
        raise ValueError(
            f"unknown table-size preset {name!r}{did_you_mean(name, choices)}; "
            f"give a list of row counts or one of: {', '.join(choices)}"
        ) from None
