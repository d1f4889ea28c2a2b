"""gunicorn's threaded worker, each taking no more than its share of the open connections.

Every worker polls the one listening socket, so who accepts a connection is a race. A client that
opens its connections at once and keeps them (wrk, a proxy's keep-alive pool) often lands nearly
all of them on one worker: 16 of 16 were seen in /proc. That worker then serves them on one core
while the other idles, at half the rate, until the client reconnects. Here the workers share one
small table of how many connections each holds, and a worker holding more than the average stops
accepting until it no longer does. The worker with the fewest is never above the average, so some
worker always accepts.
"""

import ctypes
import multiprocessing

from gunicorn.workers.gthread import ThreadWorker

FREE, STARTING = -2, -1  # a slot's states besides the count of a running worker's connections
SLOTS = 64  # workers beyond this many on one server accept as plain gthread workers do
# A worker that stopped accepting looks again this often, rather than at gthread's 1 s tick:
# the others may have taken connections since, and one of them may be waiting for its share.
RECHECK_SECONDS = 0.01


class ConnectionTable:
    """Each worker's count of open connections, in memory its forks share.

    Slots are claimed and freed by the master (claim when a worker is made, before the fork;
    free when it has exited); each running worker writes only its own.
    """

    def __init__(self, slots: int = SLOTS):
        self.counts = multiprocessing.RawArray(ctypes.c_int, [FREE] * slots)

    def claim(self) -> int | None:
        for slot, count in enumerate(self.counts):
            if count == FREE:
                self.counts[slot] = STARTING
                return slot
        return None

    def free(self, slot: int | None) -> None:
        if slot is not None:
            self.counts[slot] = FREE

    def within_share(self, slot: int, connections: int) -> bool:
        """Record slot's connections; True while they are at most the running workers' average."""
        self.counts[slot] = connections
        running = [count for count in self.counts if count >= 0]
        return connections * len(running) <= sum(running)


TABLE = ConnectionTable()  # made at import, in the master, so that every worker shares it


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker that accepts a connection only while within its share."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slot = TABLE.claim()  # in the master: gunicorn makes the worker, then forks

    def within_share(self) -> bool:
        return self.slot is None or TABLE.within_share(self.slot, self.nr_conns)

    def accept(self, listener) -> None:
        super().accept(listener)
        if not self.within_share():
            super().set_accept_enabled(False)

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread's loop calls this whenever accepting is off and it has room for more, so a
        # worker that stopped for its share asks again on each turn of the loop.
        super().set_accept_enabled(enabled and self.within_share())

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self.slot is not None:
            TABLE.counts[self.slot] = self.nr_conns  # fresh before it sleeps
            stopped_for_share = not self._accepting and self.nr_conns < self.worker_connections
            if stopped_for_share and self.alive:  # a stopping worker accepts nothing anyway
                timeout = min(timeout, RECHECK_SECONDS)
        super().wait_for_and_dispatch_events(timeout)


def worker_exited(worker) -> None:
    """Free an exited worker's slot (gunicorn's child_exit hook, in the master)."""
    TABLE.free(getattr(worker, "slot", None))
