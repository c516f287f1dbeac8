"""The system under test: LoadGen's issued samples, batched into model calls on worker threads.

LoadGen calls ``issue(samples)`` from its own thread and must not be blocked: the samples go on a queue
in chunks of at most ``max_batch_size`` (as the reference's ``QueueRunner.enqueue``). Each worker takes a
chunk and, while it holds fewer than ``max_batch_size`` samples, waits up to ``max_wait_ms`` for more
(the reference has no wait: each query is its own batch; Server queries arrive one sample at a time, so a
wait lets them share a model call). The model returns one output row per data row; every sample gets back its
rows as output bytes then label bytes (one float32 output and label a row: the reference's float32
``(output, label)`` pairs), which the accuracy log keeps.
The response buffers stay referenced until ``QuerySamplesComplete`` returns, as LoadGen requires.

A model call that raises still answers its samples (empty responses, so LoadGen finishes) and the first
error is raised again by :meth:`Batcher.stop`.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

import numpy as np

from dlrmbench.loadgen.qsl import SampleLibrary

#: ``model(inputs) -> outputs``: one row per data row of the batch (a float, or an array of any dtype).
ModelCall = Callable[[Any], np.ndarray]


def _row_bytes(array: np.ndarray, rows: int) -> np.ndarray:
    """``(rows, bytes)``: each row's values (one per row when 1-D) as raw bytes, in their own dtype."""
    array = np.ascontiguousarray(array)
    return array.reshape(rows, -1).view(np.uint8) if array.size else np.zeros((rows, 0), np.uint8)


def response_rows(outputs: Any, labels: np.ndarray) -> np.ndarray:
    """Each data row's response: its output row's bytes then its label row's bytes (``(rows, bytes)`` uint8).

    One float32 output and one float32 label a row give the reference's float32 ``(output, label)`` pairs;
    wider rows (a ranked list of item ids, int64) keep their dtype: :func:`dlrmbench.loadgen.accuracy.read_responses`
    reads them back with the layout."""
    outputs = np.asarray(outputs)
    if outputs.shape[0] != labels.shape[0]:
        raise RuntimeError(f"the model gave {outputs.shape[0]} output rows for {labels.shape[0]} data rows")
    if outputs.ndim == 1 and outputs.dtype != np.float32:
        outputs = outputs.astype(np.float32)  # one score a row: the reference's float32 pairs
    rows = labels.shape[0]
    return np.concatenate([_row_bytes(outputs, rows), _row_bytes(labels, rows)], axis=1)


class Batcher:
    """Worker threads between LoadGen and a model callable (see the module docstring)."""

    def __init__(self, library: SampleLibrary, model: ModelCall, max_batch_size: int, max_wait_ms: float,
                 workers: int, lg: Any) -> None:
        self.library, self.model, self.lg = library, model, lg
        self.max_batch_size, self.max_wait_s = max_batch_size, max_wait_ms / 1e3
        self.queue: queue.Queue[list[tuple[int, int]] | None] = queue.Queue()
        self.errors: list[BaseException] = []
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, daemon=True, name=f"sut-worker-{k}")
                        for k in range(workers)]
        for t in self.threads:
            t.start()

    # LoadGen's SUT callbacks -------------------------------------------------------------------------
    def issue(self, samples: list[Any]) -> None:
        items = [(s.id, s.index) for s in samples]
        for start in range(0, len(items), self.max_batch_size):
            self.queue.put(items[start:start + self.max_batch_size])

    def flush(self) -> None:
        """Nothing is held back beyond ``max_wait_ms``."""

    # workers -----------------------------------------------------------------------------------------
    def _gather(self, first: list[tuple[int, int]], carry: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
        batch = list(first)
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            left = deadline - time.perf_counter()
            try:
                more = self.queue.get(timeout=left) if left > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self.queue.put(None)  # another worker's stop signal: hand it on
                break
            room = self.max_batch_size - len(batch)
            batch.extend(more[:room])
            if len(more) > room:
                carry.append(more[room:])
                break
        return batch

    def _work(self) -> None:
        carry: list[list[tuple[int, int]]] = []
        while True:
            first = carry.pop() if carry else self.queue.get()
            if first is None:
                return
            self._answer(self._gather(first, carry))

    def _answer(self, batch: list[tuple[int, int]]) -> None:
        ids = [i for i, _ in batch]
        kept: list[np.ndarray] = []
        responses = []
        try:
            prepared = self.library.prepare([index for _, index in batch])
            pairs = response_rows(self.model(prepared.inputs), prepared.labels)
            for k, sample_id in enumerate(ids):
                part = np.ascontiguousarray(pairs[prepared.offsets[k]:prepared.offsets[k + 1]])
                kept.append(part)
                responses.append(self.lg.QuerySampleResponse(sample_id, part.ctypes.data, part.nbytes))
            with self._lock:
                self.batch_sizes.append(len(batch))
        except BaseException as exc:  # answered empty so that LoadGen finishes; raised again by stop()
            with self._lock:
                self.errors.append(exc)
            responses = [self.lg.QuerySampleResponse(sample_id, 0, 0) for sample_id in ids]
        self.lg.QuerySamplesComplete(responses)
        del kept  # the buffers lived until LoadGen copied them

    def stop(self) -> None:
        """End the workers; raise the first model error, if any."""
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join()
        if self.errors:
            raise RuntimeError(f"a model call failed during the LoadGen run: {self.errors[0]}") from self.errors[0]
