"""The serving benchmark: latency percentiles and throughput over batch size x concurrency.

Closed loop, as Triton's ``perf_analyzer --concurrency-range``: ``c`` clients each send one
request of ``b`` samples, wait for its answer, and send the next, for ``duration_s`` after
``warmup`` untimed requests per client. Per cell: requests/s, samples/s (requests x b), and the
p50/p90/p95/p99 of the request latency (send to answer). Targets:

- ``onnxruntime``: the export's ONNX files in this process (one shared session; ONNX Runtime
  releases the GIL, so clients run concurrently); a split export runs sparse then dense.
- ``torchscript``: the export's TorchScript files in this process.
- ``triton``: a running Triton server through ``tritonclient`` (HTTP or gRPC), one client per thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from dlrmbench.errors import UserError

PERCENTILES = (50, 90, 95, 99)


class Target(Protocol):
    """Something that answers requests; ``client()`` gives one per concurrent caller."""

    description: str

    def client(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]: ...


@dataclass
class ServeSettings:
    batch_sizes: tuple[int, ...] = (1, 64, 2048)
    concurrency: tuple[int, ...] = (1, 2, 4)
    duration_s: float = 2.0
    warmup: int = 5
    seed: int = 0


@dataclass
class Cell:
    """One row of the table."""

    batch_size: int
    concurrency: int
    requests: int
    seconds: float
    latencies_s: list[float]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def samples_per_s(self) -> float:
        return self.requests_per_s * self.batch_size

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) * 1e3 if self.latencies_s else float("nan")

    def record(self) -> dict[str, Any]:
        row: dict[str, Any] = {"batch_size": self.batch_size, "concurrency": self.concurrency,
                               "requests": self.requests, "seconds": self.seconds,
                               "throughput_samples_per_s": self.samples_per_s,
                               "throughput_requests_per_s": self.requests_per_s,
                               "latency_mean_ms": float(np.mean(self.latencies_s)) * 1e3 if self.latencies_s else None}
        for q in PERCENTILES:
            row[f"latency_p{q}_ms"] = self.percentile_ms(q)
        return row


class LocalTarget:
    """An exported format run in this process (``onnxruntime`` or ``torchscript``)."""

    def __init__(self, root: Path, manifest: dict[str, Any], fmt: str, threads: int | None) -> None:
        from dlrmbench.export.check import Predictor

        if fmt not in manifest["models"]:
            raise UserError(f"{root}: this export has no {fmt} model (it has {', '.join(manifest['models'])}); "
                            f"re-export with --format {fmt}")
        self.predictor = Predictor(root, manifest["models"][fmt], fmt, threads)
        runtime = "onnxruntime (CPU)" if fmt == "onnx" else "TorchScript (CPU)"
        split = "split: sparse + dense" if manifest["split"] else "one graph"
        precision = manifest.get("precision") or {"name": "fp32"}
        bits = f", {precision['table_bits']}-bit tables" if precision.get("table_bits") else ""
        self.description = f"{runtime}, {precision['name']}{bits}, {split}, intra-op threads {threads or 'default'}"

    def client(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        return self.predictor.predict


def make_inputs(model_info: dict[str, Any], batch: int, seed: int, count: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    from dlrmbench.export.check import random_inputs

    return [random_inputs(model_info, batch, seed + i) for i in range(count)]


def measure_cell(target: Target, inputs: list[tuple[np.ndarray, ...]], batch: int, concurrency: int,
                 duration_s: float, warmup: int) -> Cell:
    """Run ``concurrency`` closed-loop clients for ``duration_s``; every latency is kept."""
    clients = [target.client() for _ in range(concurrency)]
    ready = threading.Barrier(concurrency + 1)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[BaseException] = []
    window: dict[str, float] = {}
    go = threading.Event()

    def work(index: int) -> None:
        call = clients[index]
        try:
            for i in range(warmup):
                call(*inputs[i % len(inputs)])
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        ready.wait()
        go.wait()
        if errors:
            return
        mine, i = latencies[index], index
        deadline = window["start"] + duration_s
        try:
            while True:
                start = time.perf_counter()
                if start >= deadline:
                    break
                call(*inputs[i % len(inputs)])
                mine.append(time.perf_counter() - start)
                i += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait()  # every client has warmed up
    window["start"] = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - window["start"]
    if errors:
        raise RuntimeError(f"a request failed at batch {batch}, concurrency {concurrency}: {errors[0]}") from errors[0]
    flat = [x for per in latencies for x in per]
    return Cell(batch, concurrency, len(flat), seconds, flat)


def run_serving(target: Target, model_info: dict[str, Any], settings: ServeSettings,
                progress: Callable[[Cell], None] | None = None,
                requests: Callable[[int, int], list[tuple[np.ndarray, ...]]] | None = None) -> list[Cell]:
    """Every batch size x concurrency cell, in that order. ``requests(batch, seed)``: the requests the clients
    cycle through (default: random inputs of the ``numerical, categorical`` layout from ``model_info``)."""
    cells = []
    for batch in settings.batch_sizes:
        inputs = (make_inputs(model_info, batch, settings.seed) if requests is None
                  else requests(batch, settings.seed))
        for concurrency in settings.concurrency:
            cell = measure_cell(target, inputs, batch, concurrency, settings.duration_s, settings.warmup)
            cells.append(cell)
            if progress is not None:
                progress(cell)
    return cells


class TritonTarget:
    """A model on a running Triton server, reached with ``tritonclient`` (HTTP or gRPC).

    The model's inputs are read from the server's metadata: the FP32 input takes the numerical
    features and the INT64 input the ids, so the one-graph, ensemble and TorchScript
    (``name__index``) models all work. Raises :class:`UserError` when ``tritonclient`` is missing,
    no server answers, or the model is not ready.
    """

    def __init__(self, url: str, protocol: str, model: str, timeout_s: float = 10.0) -> None:
        try:
            if protocol == "grpc":
                import tritonclient.grpc as client_module
            else:
                import tritonclient.http as client_module
        except (ImportError, RuntimeError) as exc:  # tritonclient without its grpc extra raises RuntimeError
            from dlrmbench.export.requirements import triton_install

            missing = getattr(exc, "name", None) or f"tritonclient.{protocol}"
            raise UserError(
                f"the triton target over {protocol} needs tritonclient with {protocol} support ({missing} is not "
                f"importable): {triton_install(protocol)}; the onnxruntime target needs no server"
            ) from None
        self.module, self.url, self.model, self.protocol = client_module, url, model, protocol
        self.timeout_s = timeout_s
        probe = self._connect()
        try:
            live = probe.is_server_live(**self._call_timeout())
        except Exception as exc:
            raise UserError(f"no Triton server answers at {url} ({protocol}) within {timeout_s:g} s: "
                            f"{str(exc)[:200]}; start one (README: Serving) or pass --url") from None
        if not live:
            raise UserError(f"the Triton server at {url} is not live yet; wait for it to start")
        try:
            ready = probe.is_model_ready(model, **self._call_timeout())
        except Exception:
            ready = False
        if not ready:
            raise UserError(f"model {model!r} is not ready on the Triton server at {url}; check the server log "
                            "and the --model name (the export's models are listed in its export.json)")
        metadata = probe.get_model_metadata(model, **self._call_timeout())
        inputs = metadata["inputs"] if isinstance(metadata, dict) else [
            {"name": i.name, "datatype": i.datatype} for i in metadata.inputs]
        outputs = metadata["outputs"] if isinstance(metadata, dict) else [{"name": o.name} for o in metadata.outputs]
        by_type = {i["datatype"]: i["name"] for i in inputs}
        if set(by_type) != {"FP32", "INT64"} or len(inputs) != 2:
            raise UserError(f"model {model!r} on {url} does not take one FP32 and one INT64 input "
                            f"(it takes {[(i['name'], i['datatype']) for i in inputs]}); is it a dlrmbench export?")
        self.numerical, self.categorical, self.output = by_type["FP32"], by_type["INT64"], outputs[0]["name"]
        self.description = f"Triton {protocol} {url}, model {model}"

    def _connect(self) -> Any:
        """A client that gives up after ``timeout_s`` (HTTP: on connecting and on every read; gRPC: per call)."""
        address = self.url.split("://", 1)[-1]
        if self.protocol == "http":
            return self.module.InferenceServerClient(url=address, connection_timeout=self.timeout_s,
                                                     network_timeout=self.timeout_s)
        return self.module.InferenceServerClient(url=address)

    def _call_timeout(self) -> dict[str, float]:
        return {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}

    def client(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        connection, module = self._connect(), self.module

        def infer(numerical: np.ndarray, categorical: np.ndarray) -> np.ndarray:
            a = module.InferInput(self.numerical, list(numerical.shape), "FP32")
            b = module.InferInput(self.categorical, list(categorical.shape), "INT64")
            if self.protocol == "http":
                a.set_data_from_numpy(numerical, binary_data=True)
                b.set_data_from_numpy(categorical, binary_data=True)
                wanted = [module.InferRequestedOutput(self.output, binary_data=True)]
            else:
                a.set_data_from_numpy(numerical)
                b.set_data_from_numpy(categorical)
                wanted = [module.InferRequestedOutput(self.output)]
            return connection.infer(self.model, [a, b], outputs=wanted, **self._call_timeout()).as_numpy(self.output)

        return infer
