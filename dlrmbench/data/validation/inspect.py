"""``dlrmbench dataset inspect``: what a dataset directory holds and whether its files agree.

Returns a plain dict (JSON-ready): format, table sizes, and per split the sample count, label
rate, every file (bytes, dtype, samples, and the fingerprint a run records of it: modification time and
sampled digest, :mod:`dlrmbench.data.watch`) and every categorical feature (dtype, table size, id
range). Problems (files that disagree, ids out of range, bad labels) are collected, not raised,
so one report shows all of them; a path that is not a dataset at all raises a DatasetError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlrmbench.data import binary, split
from dlrmbench.data.errors import DatasetError
from dlrmbench.data.model_size import feature_keys
from dlrmbench.data.open import detect_format, open_source, scan_values, table_sizes
from dlrmbench.data.watch import fingerprint


def _binary_split(path: Path, name: str, sizes: list[int] | None, scan: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"files": [{"name": path.name, "bytes": path.stat().st_size, "dtype": "record<160 bytes>",
                                       "samples": path.stat().st_size / binary.RECORD_BYTES}]}
    source = binary.BinaryFile(path)
    info["files"][0]["samples"] = source.samples
    info["files"][0].update(fingerprint(path))
    info["samples"] = source.samples
    dtypes = ["int32"] * binary.NUM_CATEGORICAL
    _scan_into(info, source, sizes, dtypes, scan)
    return info


def _split_split(root: Path, name: str, sizes: list[int], scan: bool, num_numerical: int) -> dict[str, Any]:
    directory = root / name
    counts = split.split_sample_counts(directory, sizes, num_numerical)
    dtypes = ["bool", f"float16 x {num_numerical}"] + [split.categorical_dtype(s).name for s in sizes]
    info: dict[str, Any] = {"files": [{"name": n, "bytes": b, "dtype": d, "samples": s, **fingerprint(directory / n)}
                                      for (n, (b, s)), d in zip(counts.items(), dtypes)]}
    info["samples"] = split.check_counts_agree(directory, counts, sizes)
    source = open_source(root, "split", name, sizes, memmap=True, num_numerical=num_numerical)
    _scan_into(info, source, sizes, dtypes[2:], scan)
    return info


def _scan_into(info: dict[str, Any], source: Any, sizes: list[int] | None, dtypes: list[str], scan: bool) -> None:
    keys = feature_keys(len(dtypes))
    features = [{"feature": f, "key": keys[f], "dtype": dtypes[f], "table_size": sizes[f] if sizes else None}
                for f in range(len(dtypes))]
    info["features"] = features
    if not scan:
        return
    result = scan_values(source, sizes)
    info["label_rate"] = result.label_rate
    for f, feature in enumerate(features):
        feature["min_id"], feature["max_id"] = result.id_min[f], result.id_max[f]
        if feature["table_size"] is None:
            feature["cardinality_seen"] = result.id_max[f] + 1


def inspect_dataset(path: Path, scan: bool = True, num_numerical: int = split.DEFAULT_NUM_NUMERICAL) -> dict[str, Any]:
    """Describe the dataset at ``path`` (a directory, or one binary ``.bin`` file)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".bin":
        fmt, root, sizes = "binary", path.parent, None
        names = {path.stem: path}
    else:
        fmt = detect_format(path)
        root = path
        sizes = table_sizes(path, fmt)
        if fmt == "binary":
            names = {s: root / f for s, f in binary.SPLIT_FILES.items() if (root / f).exists()}
        else:
            names = {s: root / s for s in split.SPLITS if (root / s).exists()}
    report: dict[str, Any] = {"path": str(path), "format": fmt, "table_sizes": sizes, "splits": {}, "problems": []}
    for name, where in names.items():
        try:
            if fmt == "binary":
                report["splits"][name] = _binary_split(where, name, sizes, scan)
            else:
                report["splits"][name] = _split_split(root, name, sizes or [], scan, num_numerical)
        except DatasetError as exc:
            report["splits"].setdefault(name, {})
            report["problems"].append(exc.message)
    if fmt == "binary" and path.is_file():
        pass
    elif not names:
        report["problems"].append(f"{root}: no split found")
    else:
        for needed in ("train", "test"):
            if needed not in names:
                expected = binary.SPLIT_FILES[needed] if fmt == "binary" else f"{needed}/"
                report["problems"].append(f"{root}: no {needed} split ({expected} is missing; training reads train "
                                          "and test)")
    report["ok"] = not report["problems"]
    return report
