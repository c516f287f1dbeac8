"""A server that accepts connections but never answers is given up on at the client's timeout (issue
28, class "timeouts"): serve-bench --timeout S, not tritonclient's own 60 s."""

from __future__ import annotations

import socket
import threading
import time

import pytest

pytest.importorskip("tritonclient.http", reason="tritonclient is not installed (dlrmbench[export])")


@pytest.fixture
def silent_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # accepted, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_server_that_never_answers_is_given_up_at_the_timeout(silent_server):
    from dlrmbench.errors import UserError
    from dlrmbench.export.serve_bench import TritonTarget

    start = time.monotonic()
    with pytest.raises(UserError, match=rf"no Triton server answers at {silent_server} \(http\) within 1 s"):
        TritonTarget(silent_server, "http", "dlrm", timeout_s=1.0)
    assert time.monotonic() - start < 20  # tritonclient's own default would wait 60 s
