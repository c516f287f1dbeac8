"""A background prefetcher: worker threads stage the next batches while the model runs.

Like the reference's split reader (a thread-pool executor keeping 10 batches in flight, facts
sheet 3.2), ``depth`` batches are requested ahead and handed out in order. Reading and the numpy
casts release the GIL, so on the CPU this overlaps loading with compute; with ``workers > 1``
several batches convert at once. On a GPU the worker also pins each batch and copies it to the
device on a side CUDA stream; the consumer's stream waits for that copy and ``record_stream``
keeps the caching allocator from reusing the memory early (the reference's ``prefetcher``, 3.6).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import torch

from dlrmbench.batch import Batch

T = TypeVar("T")


class _DeviceStager:
    """Pins a host batch and copies it to ``device`` on a side stream; returns it with its event."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stream = torch.cuda.Stream(device)

    def __call__(self, batch: Batch) -> tuple[Batch, torch.cuda.Event]:
        pinned = Batch(batch.numerical.pin_memory(), batch.categorical.pin_memory(), batch.label.pin_memory(),
                       batch.global_rows)
        with torch.cuda.stream(self.stream):
            staged = pinned.to(self.device, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        return staged, event

    def hand_over(self, staged: Batch, event: torch.cuda.Event) -> Batch:
        current = torch.cuda.current_stream(self.device)
        current.wait_event(event)
        for tensor in (staged.numerical, staged.categorical, staged.label):
            tensor.record_stream(current)
        return staged


def prefetch(load: Callable[[T], Batch], items: Iterable[T], depth: int, device: torch.device,
             workers: int = 1) -> Iterator[Batch]:
    """Yield ``load(item)`` for every item in order, computed up to ``depth`` items ahead.

    Stopping early (``break``, ``islice``) cancels what is pending; an exception in ``load`` is
    raised in the consumer at the item where it happened.
    """
    stager = _DeviceStager(device) if device.type == "cuda" else None

    def job(item: T) -> object:
        batch = load(item)
        return stager(batch) if stager is not None else batch

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dlrmbench-prefetch")
    pending: deque[Future[object]] = deque()
    source = iter(items)
    try:
        for item in source:
            pending.append(pool.submit(job, item))
            if len(pending) >= max(1, depth):
                break
        while pending:
            result = pending.popleft().result()
            for item in source:
                pending.append(pool.submit(job, item))
                break
            if stager is not None:
                staged, event = result  # type: ignore[misc]
                yield stager.hand_over(staged, event)
            else:
                yield result  # type: ignore[misc]
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


class _Failed:
    """An exception raised by the producer, handed to the consumer at the item where it happened."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order while a background thread produces the next ``depth`` of them.

    For a stream whose iteration does the work (reading, converting, cutting a rank's share): that work
    for the coming batches overlaps the consumer's compute (numpy and torch release the GIL). Stopping early
    (``break``, ``islice``) stops the producer after at most ``depth`` more items.
    """
    import queue
    import threading

    out: "queue.Queue[object]" = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            out.put(_Failed(exc))

    thread = threading.Thread(target=produce, name="dlrmbench-input-pipeline", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
