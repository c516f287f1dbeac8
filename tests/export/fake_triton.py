"""A minimal KServe-v2 HTTP server (the protocol Triton speaks) serving an export with onnxruntime.

Just enough of Triton's HTTP API for ``tritonclient.http``: liveness, model readiness, model
metadata, and ``infer`` with the binary-data extension (inputs as raw bytes after a JSON header);
answers in plain JSON. It lets the tests drive ``serve-bench --target triton`` through the real
client library without a Triton container.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from dlrmbench.export.check import Predictor

DTYPES = {"FP32": np.float32, "INT64": np.int64}


def serve(export_dir: Path, manifest: dict[str, Any]) -> tuple[ThreadingHTTPServer, str]:
    """Start the server on a free local port in a daemon thread; returns it and its ``host:port``."""
    entry = manifest["models"]["onnx"]
    predictor = Predictor(export_dir, entry, "onnx", threads=1)
    name, model = entry["model"], manifest["model"]
    metadata = {"name": name, "versions": ["1"], "platform": "onnxruntime_onnx",
                "inputs": [{"name": "numerical", "datatype": "FP32", "shape": [-1, model["num_numerical"]]},
                           {"name": "categorical", "datatype": "INT64", "shape": [-1, model["num_features"]]}],
                "outputs": [{"name": "logit", "datatype": "FP32", "shape": [-1, 1]}]}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v2/health/live":
                return self._reply(200)
            if self.path == f"/v2/models/{name}/ready":
                return self._reply(200)
            if self.path == f"/v2/models/{name}":
                return self._reply(200, metadata)
            return self._reply(400, {"error": f"unknown path {self.path}"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != f"/v2/models/{name}/infer":
                return self._reply(400, {"error": f"unknown model path {self.path}"})
            header_length = int(self.headers.get("Inference-Header-Content-Length", len(body)))
            request = json.loads(body[:header_length])
            offset, arrays = header_length, {}
            for item in request["inputs"]:
                size = item.get("parameters", {}).get("binary_data_size")
                dtype = DTYPES[item["datatype"]]
                if size is None:
                    arrays[item["name"]] = np.asarray(item["data"], dtype=dtype).reshape(item["shape"])
                else:
                    raw = body[offset: offset + size]
                    offset += size
                    arrays[item["name"]] = np.frombuffer(raw, dtype=dtype).reshape(item["shape"])
            logits = predictor.predict(arrays["numerical"], arrays["categorical"])
            self._reply(200, {"model_name": name, "outputs": [
                {"name": "logit", "datatype": "FP32", "shape": list(logits.shape),
                 "data": logits.reshape(-1).tolist()}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"
