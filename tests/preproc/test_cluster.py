"""Preprocessing on a standalone Spark cluster (master + worker started from the installed PySpark, as the
README documents) gives output byte-identical to local mode.

The cluster listens on 127.0.0.1 only and is stopped (its whole process group) when the module ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pp_helpers import assert_same_dataset
from tests.preproc.reference_impl import preprocess as reference
from pp_synthetic import make_days

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_class() -> str:
    """`spark-class` of the installed PySpark (the same script a user runs)."""
    import pyspark

    path = Path(pyspark.__file__).parent / "bin" / "spark-class"
    if not path.exists():
        pytest.skip(f"{path} not found in this PySpark install")
    return str(path)


def start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1"}
    with open(log, "wb") as fh:
        return subprocess.Popen([spark_class(), *args], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def wait_for(log: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not seen in {log}:\n{log.read_text(errors='replace')[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`spark://127.0.0.1:PORT`: one master and one 1-core worker, stopped when the module ends."""
    logs = tmp_path_factory.mktemp("spark-cluster")
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    procs = []
    try:
        master = start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                        "--webui-port", str(free_port())], logs / "master.log")
        procs.append(master)
        wait_for(logs / "master.log", "I have been elected leader", master)
        worker = start(["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "1",
                        "--memory", "2g", "--webui-port", str(free_port()), "--work-dir", str(logs / "work")],
                       logs / "worker.log")
        procs.append(worker)
        wait_for(logs / "worker.log", "Successfully registered with master", worker)
        yield url
    finally:
        for p in reversed(procs):
            stop(p)


@pytest.mark.timeout(1500)
def test_cluster_output_is_byte_identical_to_local_mode(cluster, tmp_path):
    """The cluster's output equals the plain-Python reference byte for byte; so does local mode's (every
    other preproc test checks that), hence cluster == local without a second Spark run here."""
    inp = make_days(tmp_path / "in", days=3, rows=300, last_rows=101)
    # The documented command, in its own process (the test process may hold a local session).
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    result = subprocess.run(
        [sys.executable, "-m", "preproc", str(inp), str(tmp_path / "cluster"), "--frequency-threshold", "3",
         "--master", cluster, "--spark-conf", "spark.executor.memory=1g", "--spark-conf", "spark.driver.memory=1g",
         "--spark-conf", "spark.sql.shuffle.partitions=4"],
        capture_output=True, text=True, timeout=1400, env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "done:" in result.stderr
    reference(inp, tmp_path / "ref", threshold=3)
    assert_same_dataset(tmp_path / "cluster", tmp_path / "ref")
