"""Kept-alive connections are shared by the workers (service/worker.py): a client that opens
sixteen at once and keeps them gets both workers' cores, not one worker's."""

import contextlib
import http.client
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service.worker import FREE, ConnectionTable

from ..helpers import start_gunicorn, stop

CONNECTIONS = 16


def sockets_of(pid: int) -> int:
    """How many sockets process pid has open (Linux: its file descriptors in /proc)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed while we looked
            count += os.readlink(fd).startswith("socket:")
    return count


def running_workers(master: int, expected: int) -> list[int]:
    """The master's workers, once each waits in its event loop (a booting one takes no share)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        waiting = [Path(f"/proc/{pid}/wchan").read_text() == "do_epoll_wait" for pid in children]
        if len(children) == expected and all(waiting):
            return [int(pid) for pid in children]
        time.sleep(0.1)
    raise AssertionError(f"gunicorn's {expected} workers never all waited for connections")


def held(workers: list[int], baseline: list[int]) -> list[int]:
    return [sockets_of(pid) - base for pid, base in zip(workers, baseline, strict=True)]


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts sockets in Linux's /proc")
def test_connections_opened_at_once_are_shared_by_both_workers(model_dir, tmp_path):
    process, base = start_gunicorn(model_dir, tmp_path, workers=2)
    address = urlsplit(base)
    try:
        workers = running_workers(process.pid, 2)
        baseline = [sockets_of(pid) for pid in workers]  # the listener and the like
        # Three rounds: without the shares, one worker took 14 or more of 16 in about half of
        # the rounds measured, so three balanced rounds by luck are unlikely.
        for _ in range(3):
            with contextlib.ExitStack() as opened:
                connections = [
                    opened.enter_context(
                        contextlib.closing(
                            http.client.HTTPConnection(address.hostname, address.port, timeout=10)
                        )
                    )
                    for _ in range(CONNECTIONS)
                ]
                for connection in connections:  # all of them waiting to be accepted at once
                    connection.connect()
                for connection in connections:
                    connection.request("GET", "/healthz")
                    answer = connection.getresponse()
                    answer.read()
                    assert answer.status == 200
                    assert answer.getheader("Connection") == "keep-alive"
                counts = held(workers, baseline)
                assert sum(counts) == CONNECTIONS
                assert max(counts) - min(counts) <= 2, counts
            deadline = time.monotonic() + 10
            while sum(held(workers, baseline)) and time.monotonic() < deadline:
                time.sleep(0.05)  # each worker notices its closed connections
            assert held(workers, baseline) == [0, 0]
    finally:
        stop(process)


def test_a_worker_above_the_running_workers_average_is_not_within_its_share():
    table = ConnectionTable(slots=3)
    first, second = table.claim(), table.claim()
    assert (first, second) == (0, 1)
    assert table.within_share(first, 5)  # the only running worker: everything is its share
    assert table.within_share(second, 0)  # the fewest is never above the average
    assert not table.within_share(first, 5)  # 5 of 5 between two
    assert table.within_share(second, 4)
    assert not table.within_share(first, 5)  # 5 of 9: above 4.5
    assert table.within_share(first, 4)  # 4 of 8: the average itself


def test_slots_are_claimed_until_none_is_free_and_freed_for_the_next_worker():
    table = ConnectionTable(slots=2)
    assert [table.claim(), table.claim(), table.claim()] == [0, 1, None]
    table.within_share(0, 3)
    table.free(0)
    assert table.counts[0] == FREE
    assert table.within_share(1, 3)  # a freed worker's connections no longer count
    assert table.claim() == 0
    table.free(None)  # a worker made without a slot frees nothing
    assert list(table.counts) == [-1, 3]  # a claimed slot is not running until it counts
