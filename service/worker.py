"""gunicorn's threaded worker, each taking no more than its share of the open connections.

Every worker polls the one listening socket, so who accepts a connection is a race. A client that
opens its connections at once and keeps them (wrk, a proxy's keep-alive pool) often lands nearly
all of them on one worker: 16 of 16 were seen in /proc. That worker then serves them on one core
while the other idles, at half the rate, until the client reconnects. Here the workers share one
small table of how many connections each holds, and a worker accepts a connection only while it
holds no more than the average of the workers that count. The one holding the fewest is never
above it; should a connection still wait after PATIENCE_SECONDS (the worker meant to take it has
stalled), a worker above its share takes it, and every other waiting one, after all. Only new
connections are steered: after a HUP the first new worker to boot counts alone and takes every
reconnection, and keeps them (closing them to move them cost more than it saved, in review).

A worker counts while its loop runs and reports, at every turn and at least once a second. One
that is stopping (SIGTERM, a HUP or TTOU replacing it, max_requests) writes itself out at once, so
a worker draining its last requests holds no one back; the master frees the slot of one that has
exited; one whose loop has stalled stops counting when its last report is STALE_SECONDS old.
"""

import ctypes
import multiprocessing
import os
import time

from gunicorn.workers.gthread import ThreadWorker

FREE, OUT = -2, -1  # a slot no worker holds; one whose worker takes no share (starting, stopping)
# A HUP runs the old workers and their replacements side by side, so this balances servers of up
# to 32 workers; a worker made when no slot is free accepts as plain gthread workers do.
SLOTS = 64
# A worker over its share leaves a waiting connection to the others and looks again this soon:
# by then one of them has taken it, or the counts have moved and it is its turn.
RECHECK_SECONDS = 0.01
PATIENCE_SECONDS = 0.05  # how long a waiting connection is left to the others at most
STALE_SECONDS = 3.0  # three turns of gthread's one-second tick without a report


class ConnectionTable:
    """Each worker's count of open connections and when it last reported it, in memory its forks
    share (time.monotonic is one clock for every process on the machine).

    The master claims a slot when it makes a worker, before the fork, and frees it when the
    worker has exited; in between, only that worker writes it.
    """

    def __init__(self, slots: int = SLOTS):
        self.counts = multiprocessing.RawArray(ctypes.c_int, [FREE] * slots)
        self.reported = multiprocessing.RawArray(ctypes.c_double, slots)

    def claim(self) -> int | None:
        for slot, count in enumerate(self.counts):
            if count == FREE:
                self.report(slot, OUT)
                return slot
        return None

    def free(self, slot: int | None) -> None:
        if slot is not None:
            self.counts[slot] = FREE

    def report(self, slot: int, connections: int) -> None:
        self.counts[slot] = connections
        self.reported[slot] = time.monotonic()

    def within_share(self, slot: int) -> bool:
        """True while slot holds at most the average of the workers that count."""
        recent = time.monotonic() - STALE_SECONDS
        counts, reported = self.counts[:], self.reported[:]  # one read of each, not one a slot
        counting = [c for c, at in zip(counts, reported, strict=True) if c >= 0 and at >= recent]
        return counts[slot] * len(counting) <= sum(counting)


TABLE = ConnectionTable()  # made at import, in the master, so that every worker shares it


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker that accepts a connection only while within its share."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # In the master: gunicorn makes the worker, then forks. With reuse_port each worker has
        # a queue of its own, which no other worker could serve, so it takes every connection.
        self.slot = None if self.cfg.reuse_port else TABLE.claim()
        self.recheck_at = 0.0  # set when it left a waiting connection to the others
        self.declined_since = 0.0  # since when connections have kept waiting, if they have
        self.offered = False  # whether this turn of the loop found a connection waiting

    def report(self) -> None:
        if self.slot is not None:
            TABLE.report(self.slot, self.nr_conns if self.alive else OUT)

    def accept(self, listener) -> None:
        self.report()
        self.offered = True
        now = time.monotonic()
        within = self.slot is None or TABLE.within_share(self.slot)
        # Past its patience it takes every waiting connection, until a turn finds none waiting.
        if within or (self.declined_since and now - self.declined_since >= PATIENCE_SECONDS):
            if within:
                self.declined_since = 0.0
            super().accept(listener)
            self.report()
        else:
            super().set_accept_enabled(False)  # polling a listener it will not take from would spin
            self.recheck_at = now + RECHECK_SECONDS
            self.declined_since = self.declined_since or now

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread's loop turns accepting back on at each turn while it has room: not until the
        # recheck, after leaving a connection to the others.
        if not (enabled and time.monotonic() < self.recheck_at):
            super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        self.report()
        until_recheck = self.recheck_at - time.monotonic()
        if until_recheck > 0:
            timeout = min(timeout, until_recheck)
        elif self.declined_since and self._accepting:
            timeout = 0  # back on the listener: does a connection still wait, right now?
        self.offered = False
        super().wait_for_and_dispatch_events(timeout)
        if self._accepting and not self.offered:
            self.declined_since = 0.0  # none waits: another worker took it
        self.report()  # connections closed in this turn stop counting now, not a tick later

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        self.report()  # out of the shares at once (Python runs handlers in the loop's thread)


def worker_exited(worker, table: ConnectionTable = TABLE) -> None:
    """Free the slot of a worker that has left (gunicorn's child_exit and worker_exit hooks).

    child_exit runs in the master once it has reaped a worker; worker_exit runs there for one
    it found already gone, and in the worker itself as it leaves, which has written itself out
    already and must not free: the master might have given the slot to another by then.
    """
    if worker.pid != os.getpid():
        table.free(getattr(worker, "slot", None))
