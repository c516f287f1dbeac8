"""The heartbeat watch over a real TCPStore (in this process) and a hand-driven clock: a rank whose counter does not
move for ``timeout_s`` is named with its node, a beating or finished rank never is; only multi-node ranks beat."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from dlrmbench.distributed.heartbeat import DONE, WATCH_SLACK_S, HeartbeatWatch, collective_timeout_s, is_multi_node


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def store():
    import torch.distributed as dist

    return dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=5))


def test_a_rank_whose_counter_stops_is_named_after_timeout_s(store) -> None:
    clock = Clock()
    watch = HeartbeatWatch(store, 3, timeout_s=3.0, clock=clock)
    store.set("who/2", json.dumps({"node": "1", "host": "nodeB", "pid": 4242}))
    store.set("beat/1", DONE)  # rank 1 finished its case: never taken for a stopped one
    for second in range(10):
        store.add("beat/0", 1)  # rank 0 beats every second; rank 2 stopped at its third beat
        if second < 3:
            store.add("beat/2", 1)
        stopped = watch.check()
        if stopped is not None:
            break
        clock.now += 1.0
    assert stopped is not None and stopped[0] == 2
    assert clock.now - 100.0 == 6.0  # unchanged first seen at second 3, named 3 s later
    assert stopped[1].startswith("rank 2 (node 1, host nodeB, pid 4242) sent no heartbeat for 3 s, the case's "
                                 "distributed.timeout_s: stopped (SIGSTOP, a debugger or job control)")


def test_a_rank_that_never_beat_is_named_too(store) -> None:
    clock = Clock()
    watch = HeartbeatWatch(store, 2, timeout_s=2.0, clock=clock)
    results = []
    for _ in range(4):
        store.add("beat/0", 1)
        results.append(watch.check())
        clock.now += 1.0
    assert results[:2] == [None, None]  # the first read only records the value
    assert results[3] is not None and results[3][0] == 1 and "node unknown: it never reported" in results[3][1]


def test_only_multi_node_ranks_beat_and_their_collectives_wait_for_the_watch(monkeypatch) -> None:
    assert is_multi_node({"WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"})
    assert not is_multi_node({"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"})
    assert not is_multi_node({})  # not under torchrun
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert collective_timeout_s(20.0) == 20.0 + WATCH_SLACK_S and WATCH_SLACK_S >= 2.0  # two beats and a margin
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert collective_timeout_s(20.0) == 20.0  # one node: the runner's watch, the collective's own timeout
