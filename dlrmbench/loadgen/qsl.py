"""The query sample library: LoadGen's sample indices -> a batch of model inputs.

Generic over workloads: a sample is a run of consecutive *data rows* (the DLRMv2 reference aggregates 100 to
700 Criteo rows into one sample; a synthetic case uses one row, a generative recommender's request its candidates). The rows
live in arrays the workload provides; :class:`RowLibrary` slices and concatenates them for a batch of
samples and keeps each sample's row span, so the SUT can return each sample its own outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

#: ``tools/dist_quantile.txt`` of the DLRMv2 inference reference (mlcommons/inference
#: recommendation/dlrm_v2/pytorch): rows per aggregated sample, 20 equally likely quantiles.
DLRMV2_QUANTILES = (100, 100, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 300, 300, 400, 500,
                    600, 700)


@dataclass
class Prepared:
    """A batch of samples ready for the model: its inputs, each sample's row span, and the rows' labels."""

    inputs: Any
    offsets: np.ndarray   # (samples + 1,) row offsets into the model's outputs
    labels: np.ndarray    # (rows,) float32


class SampleLibrary(Protocol):
    """What the SUT and LoadGen's QSL callbacks need."""

    @property
    def total_samples(self) -> int: ...

    def load(self, indices: list[int]) -> None: ...

    def unload(self, indices: list[int]) -> None: ...

    def prepare(self, indices: list[int]) -> Prepared: ...


def fixed_offsets(rows: int, per_sample: int) -> np.ndarray:
    """Sample boundaries of ``per_sample`` consecutive rows each (the last sample may be shorter)."""
    bounds = np.arange(0, rows, per_sample, dtype=np.int64)
    return np.append(bounds, rows)


def quantile_offsets(rows: int, quantiles: tuple[int, ...], seed: int) -> np.ndarray:
    """The reference's aggregation: each sample's size drawn uniformly from ``quantiles`` (seeded), until the
    rows are used up (the last sample takes what is left)."""
    rng = np.random.default_rng(seed)
    bounds = [0]
    while bounds[-1] < rows:
        bounds.append(min(bounds[-1] + int(quantiles[rng.integers(len(quantiles))]), rows))
    return np.asarray(bounds, dtype=np.int64)


class RowLibrary:
    """Samples over row arrays: ``columns`` are arrays with one leading row axis (numerical features, ids, ...),
    ``labels`` one float per row, ``bounds`` the sample boundaries (``len = samples + 1``).

    ``make_inputs(columns_slice)`` turns the concatenated rows of a batch into the model's input (a tuple of
    arrays by default). Loading is a no-op beyond bookkeeping: the rows are in memory already, as the
    reference's ``load_query_samples`` leaves them.
    """

    def __init__(self, columns: tuple[np.ndarray, ...], labels: np.ndarray, bounds: np.ndarray,
                 make_inputs: Callable[[tuple[np.ndarray, ...]], Any] | None = None) -> None:
        rows = int(labels.shape[0])
        if any(int(c.shape[0]) != rows for c in columns):
            raise ValueError(f"every column needs {rows} rows: {[c.shape for c in columns]}")
        if bounds[0] != 0 or bounds[-1] != rows or np.any(np.diff(bounds) <= 0):
            raise ValueError("bounds must rise from 0 to the row count")
        self.columns, self.labels, self.bounds = columns, labels.astype(np.float32), bounds
        self.make_inputs = make_inputs or (lambda cols: cols)
        self.loaded: set[int] = set()

    @property
    def total_samples(self) -> int:
        return int(self.bounds.shape[0] - 1)

    def rows_of(self, index: int) -> tuple[int, int]:
        return int(self.bounds[index]), int(self.bounds[index + 1])

    def load(self, indices: list[int]) -> None:
        self.loaded.update(indices)

    def unload(self, indices: list[int]) -> None:
        self.loaded.difference_update(indices)

    def prepare(self, indices: list[int]) -> Prepared:
        spans = [self.rows_of(i) for i in indices]
        lengths = np.asarray([b - a for a, b in spans], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        if len(spans) == 1 or all(spans[k][1] == spans[k + 1][0] for k in range(len(spans) - 1)):
            rows: Any = slice(spans[0][0], spans[-1][1])  # consecutive: views, no copy
        else:
            rows = np.concatenate([np.arange(a, b) for a, b in spans])
        return Prepared(self.make_inputs(tuple(c[rows] for c in self.columns)), offsets, self.labels[rows])


class JaggedLibrary:
    """Samples made of jagged inputs (values + offsets, as TorchRec's jagged tensors) and per-sample inputs.

    ``jagged`` maps each offsets input's name to ``(offsets, values)``: ``offsets`` (``samples + 1``, from 0)
    bounds each sample's span in every array of ``values`` (a user's history: ids, timestamps). ``per_sample``
    arrays have one leading row per sample (the request's time). ``rows`` names the jagged group whose entries
    are the sample's *data rows* (a ranking request's candidates: one label and one output each); None: one data
    row per sample. ``labels`` has one row per data row (any dtype and width). ``order`` names the inputs as the
    model takes them. :meth:`prepare` packs the samples LoadGen issued into one batch: every group's values
    concatenated in issue order (no padding), with the batch's own offsets from 0.
    """

    def __init__(self, jagged: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]], per_sample: dict[str, np.ndarray],
                 labels: np.ndarray, order: tuple[str, ...], rows: str | None = None) -> None:
        counts = {int(np.asarray(o).shape[0]) - 1 for o, _ in jagged.values()} | {int(a.shape[0]) for a in per_sample.values()}
        if len(counts) != 1 or min(counts) < 1:
            raise ValueError(f"every offsets array needs samples + 1 entries and every per-sample array one row per "
                             f"sample (got sample counts {sorted(counts)})")
        self.jagged: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
        for name, (offsets, values) in jagged.items():
            offsets = np.asarray(offsets, dtype=np.int64)
            if offsets[0] != 0 or np.any(np.diff(offsets) < 0):
                raise ValueError(f"{name}: offsets must start at 0 and never fall")
            if any(int(v.shape[0]) != int(offsets[-1]) for v in values.values()):
                raise ValueError(f"{name}: every values array needs {int(offsets[-1])} entries")
            self.jagged[name] = (offsets, values)
        self.count = counts.pop()
        if rows is not None and rows not in self.jagged:
            raise ValueError(f"rows {rows!r} must name a jagged group: {sorted(self.jagged)}")
        wanted = int(self.jagged[rows][0][-1]) if rows is not None else self.count
        if int(labels.shape[0]) != wanted:
            raise ValueError(f"labels need one row per data row: {wanted}, got {labels.shape[0]}")
        names = {n for _, values in self.jagged.values() for n in values} | set(self.jagged) | set(per_sample)
        if set(order) != names or len(order) != len(names):
            raise ValueError(f"order {order} must name each input once: {sorted(names)}")
        self.per_sample, self.labels, self.order, self.rows = per_sample, labels, tuple(order), rows
        self.loaded: set[int] = set()

    @property
    def total_samples(self) -> int:
        return self.count

    def load(self, indices: list[int]) -> None:
        self.loaded.update(indices)

    def unload(self, indices: list[int]) -> None:
        self.loaded.difference_update(indices)

    @staticmethod
    def _pack(offsets: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The packed batch's offsets and the positions of its values in the library's arrays."""
        starts, lengths = offsets[index], offsets[index + 1] - offsets[index]
        packed = np.zeros(index.shape[0] + 1, dtype=np.int64)
        np.cumsum(lengths, out=packed[1:])
        return packed, np.repeat(starts - packed[:-1], lengths) + np.arange(int(packed[-1]), dtype=np.int64)

    def prepare(self, indices: list[int]) -> Prepared:
        index = np.asarray(indices, dtype=np.int64)
        arrays = {name: a[index] for name, a in self.per_sample.items()}
        row_offsets, labels = np.arange(index.shape[0] + 1, dtype=np.int64), self.labels[index]
        for name, (offsets, values) in self.jagged.items():
            packed, gather = self._pack(offsets, index)
            arrays[name] = packed
            arrays.update({v: a[gather] for v, a in values.items()})
            if name == self.rows:
                row_offsets, labels = packed, self.labels[gather]
        return Prepared(tuple(arrays[name] for name in self.order), row_offsets, labels)
