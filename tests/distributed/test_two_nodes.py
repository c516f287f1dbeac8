"""Multi-node for real: the command `dlrmbench plan --case-files DIR --nodes 2` prints, run as two torchrun
"nodes" of one process each on 127.0.0.1 (c10d rendezvous, gloo), trains exactly like one process.

This is the README's multi-node recipe with HOST0 = 127.0.0.1; only the entry points a user runs are
used (the plan command, torchrun, the worker module), so it holds however the internals are arranged.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrmbench.distributed.heartbeat import BEAT_INTERVAL_S
from dlrmbench.workload.reporter import parse_event
from tests.conftest import REPO, cli_env, run_cli

pytestmark = pytest.mark.slow

SUITE = """\
name: twonode
defaults:
  device: cpu
  dataset: {name: synthetic, options: {train_samples: 1280, test_samples: 192, seed: 3}}
  batch_size: 64
  max_steps: 20
  progress_every: 1
  seed: 11
  model: {bottom_mlp: [16, 8], top_mlp: [16, 8, 1], embedding_dim: 8, table_sizes: [50, 40, 30, 20, 10]}
  optimizer: {lr: 0.5, warmup_steps: 4, decay_start_step: 10, decay_steps: 10}
  distributed: {init: replicate, timeout_s: 120}
cases:
  - name: hybrid
    processes: 2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def events(stdout: str) -> list[dict]:
    return [e for e in (parse_event(line) for line in stdout.splitlines()) if e is not None]


def losses(evs: list[dict]) -> list[float]:
    return [e["loss"] for e in evs if e["event"] == "progress"]


def node_command(tmp_path: Path, suite: str = SUITE) -> list[str]:
    """The command `plan --nodes 2` prints for the suite's one case, with HOST0 = 127.0.0.1 and a free port."""
    (tmp_path / "suite.yaml").write_text(suite)
    planned = run_cli("plan", str(tmp_path / "suite.yaml"), "--case-files", str(tmp_path / "cases"), "--nodes", "2",
                      env={**cli_env(), "COLUMNS": "400"})
    assert planned.returncode == 0, planned.stderr
    printed = [line.strip() for line in planned.stdout.splitlines() if "torch.distributed.run" in line]
    assert len(printed) == 1, planned.stdout
    command = shlex.split(printed[0])
    assert command[:3] == ["python", "-m", "torch.distributed.run"] and "--nnodes" in command
    assert command[command.index("--nnodes") + 1] == "2" and command[command.index("--nproc_per_node") + 1] == "1"
    endpoint = f"127.0.0.1:{free_port()}"
    command = [sys.executable, *command[1:]]
    command[command.index("--rdzv_endpoint") + 1] = endpoint  # HOST0 = the first node's address
    assert Path(command[-1]) == tmp_path / "cases" / "hybrid.json" and Path(command[-1]).exists()
    return command


def node_env(tmp_path: Path) -> dict[str, str]:
    scratch = tmp_path / "tmp"  # torchrun's own torchelastic_* folders: under the test's, not left in /tmp
    scratch.mkdir()
    return {**cli_env(), "OMP_NUM_THREADS": "1", "TMPDIR": str(scratch)}


def test_two_torchrun_nodes_train_like_one_process(tmp_path: Path) -> None:
    command = node_command(tmp_path)
    case_file = Path(command[-1])
    env = node_env(tmp_path)
    nodes = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = []
    try:
        for node in nodes:
            outputs.append(node.communicate(timeout=400))
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
    for node, (_, err) in zip(nodes, outputs):
        assert node.returncode == 0, err[-4000:]
    node_events = [events(out) for out, _ in outputs]
    # Ranks report through rank 0, which is on exactly one of the nodes.
    reporting = [evs for evs in node_events if evs]
    assert len(reporting) == 1, [len(e) for e in node_events]
    two_nodes = reporting[0]

    single_case = json.loads(case_file.read_text())  # the resolved case: the same case, run as one process
    single_case["case"]["processes"] = 1
    single_case.update(launcher="process", world_size=1)
    (tmp_path / "single.json").write_text(json.dumps(single_case))
    single = subprocess.run([sys.executable, "-m", "dlrmbench.runner.worker", str(tmp_path / "single.json")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-4000:]
    one_process = events(single.stdout)

    a, b = losses(two_nodes), losses(one_process)
    assert len(a) == len(b) == 20
    for step, (x, y) in enumerate(zip(a, b), start=1):
        assert abs(x - y) <= 1e-5 * abs(y), f"step {step}: two nodes {x} vs one process {y}"
    assert len(set(a)) > 1  # the loss moved: it trained
    final = [e for e in two_nodes if e["event"] == "evaluation"][-1]
    expected = [e for e in one_process if e["event"] == "evaluation"][-1]
    assert abs(final["auc"] - expected["auc"]) <= 1e-6 and final["samples"] == expected["samples"]


def test_a_rank_stopped_on_the_other_node_fails_the_case_within_its_timeout_naming_it(tmp_path: Path) -> None:
    """Rank 1 SIGSTOPs itself on its node: the other node's heartbeat watch ends the case within
    ``distributed.timeout_s`` plus about two beats, naming the rank, its node, host and pid (without it, the
    peer waits for the process group's timeout and the stopped node for torchrun's)."""
    import psutil

    timeout_s = 3.0
    command = node_command(tmp_path, SUITE.replace("timeout_s: 120", f"timeout_s: {timeout_s:g}"))
    env = {**node_env(tmp_path), "DLRMBENCH_TEST_FAIL_RANK": "1", "DLRMBENCH_TEST_FAIL_MODE": "stop",
           "DLRMBENCH_TEST_FAIL_AFTER_S": "0.5"}
    nodes = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    seen: dict[int, psutil.Process] = {}
    stopped_at = ended_at = stopped_pid = None
    stopped_wall = 0.0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and ended_at is None:
            for node in nodes:
                try:
                    for child in psutil.Process(node.pid).children(recursive=True):
                        seen.setdefault(child.pid, child)
                except psutil.Error:
                    pass
            if stopped_at is None:
                stopped_pid = next((pid for pid, p in seen.items() if _is_stopped(p)), None)
                stopped_at = time.monotonic() if stopped_pid is not None else None
                stopped_wall = time.time()
            if any(node.poll() is not None for node in nodes):
                ended_at = time.monotonic()
            time.sleep(0.1)
        assert stopped_at is not None and ended_at is not None, "no rank stopped, or the case never ended"
        first = next(node for node in nodes if node.poll() is not None)
        out, err = first.communicate(timeout=30)
    finally:
        for process in seen.values():  # the stopped rank lives in its own session: end it by its pid
            try:
                process.kill()
            except psutil.Error:
                pass
        for node in nodes:
            if node.poll() is None:
                node.kill()
            node.communicate()
    assert first.returncode != 0
    errors = [e for e in events(out) if e["event"] == "error"]
    assert errors and errors[0]["failed_rank"] == 1, (out[-2000:], err[-2000:])
    assert re.fullmatch(r"rank 1 \(node [01], host \S+, pid (\d+)\) sent no heartbeat for 3 s, the case's "
                        r"distributed.timeout_s: stopped \(SIGSTOP, a debugger or job control\), or its process or "
                        r"node is gone; its peers cannot go on, so the case was ended; resume a stopped process "
                        r"with SIGCONT, or raise distributed.timeout_s", errors[0]["message"]), errors[0]["message"]
    assert f"pid {stopped_pid})" in errors[0]["message"]
    # named within timeout_s and two beats (the watch reads every BEAT_INTERVAL_S), plus a loaded machine's margin,
    # before any collective times out (it waits WATCH_SLACK_S longer); the node's torchrun then ends its ranks
    assert errors[0]["time"] - stopped_wall < timeout_s + 2 * BEAT_INTERVAL_S + 2.0, errors[0]["time"] - stopped_wall
    assert ended_at - stopped_at < timeout_s + 2 * BEAT_INTERVAL_S + 12.0, ended_at - stopped_at


def _is_stopped(process) -> bool:
    import psutil

    try:
        return process.status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False

