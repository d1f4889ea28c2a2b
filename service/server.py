"""gunicorn's settings for Stance, stated once: `gunicorn -c python:service.server`.

`make serve` and the tests' real server both start gunicorn with this file; the command line adds
only the address and the number of workers.
"""

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from gunicorn import glogging, util

from service.errors import PROBLEM_TYPE, problem_document
from service.headers import REQUEST_ID_HEADER, SECURITY_HEADERS
from service.logs import logging_config
from service.worker import worker_exited

wsgi_app = "service.wsgi:app"

# Slow clients. A sync worker reads a request's headers with its only thread, so two clients
# sending a byte a second stall a two-worker server. A gthread worker waits for the first bytes
# in its event loop (idle connections cost no thread) and gives each connection that is sending
# a request a thread of its own: a slow client then holds one of threads x workers, and the
# rest keep answering. The bound is a count, not a clock (gunicorn has no header timeout), so on
# the open internet a buffering proxy in front does the rest (README, "Deployment").
# gthread, with each worker keeping to its share of the kept-alive connections (service/worker.py).
worker_class = "service.worker.BalancedThreadWorker"
threads = 32
# Measured for issue 9 (README, "Serving: where a request's time goes"): on 2 cores, 3 or 4
# workers, 16 threads, preload_app and sync workers did not beat this beyond the noise of a shared
# machine. preload_app stays off because gunicorn resets SIGHUP in each worker after the fork,
# so a preloaded app loses its per-worker reload handler (model_slot.py), and every worker counts
# its own model load in /metrics. max_requests stays off: each restart loads the model again
# (seconds of a core, while that worker answers nothing: at 2,000 +- 200 requests both workers
# spent most of a 5 s run restarting), and no leak has been seen that would need it.
# Kept-alive connections wait in the event loop, not in a thread, and are closed after this.
keepalive = 5

# Each request is logged by the app as one JSON line with its id (service/logs.py): gunicorn's
# access log would repeat it in another format, with the query string.
accesslog = None
logconfig_dict = logging_config()


class Logger(glogging.Logger):
    """gunicorn's logger without its access log.

    With logconfig_dict set, gunicorn builds every request's access-log fields (a dict of its
    headers and times) and hands them to a logger that has no handler: a quarter of a request's
    user CPU in a worker under load, for nothing (README, "Serving").
    """

    access_log_enabled = False  # what newer gunicorns check before building the fields

    def access(self, resp, req, environ, request_time) -> None:
        return


logger_class = Logger

# gunicorn 25.1+ opens a control socket at one fixed path per user ($XDG_RUNTIME_DIR/gunicorn.ctl
# or ~/.gunicorn/gunicorn.ctl): a second server on the machine takes it over and deletes it when
# it stops. Stance is managed with signals (README, "Model versions"), so no socket at all;
# older gunicorns ignore the name.
control_socket_disable = True


def _write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """Answer a request gunicorn refused itself (bad request line, headers too large, ...).

    gunicorn writes these answers as HTML from util.write_error, its one place for them, before
    the app sees the request; replacing it makes them problem+json like every other error.
    """
    body = json.dumps(problem_document(status_int, reason, mesg or reason)).encode()
    headers = {
        "Connection": "close",
        "Content-Type": PROBLEM_TYPE,
        "Content-Length": str(len(body)),
        REQUEST_ID_HEADER: uuid.uuid4().hex,
        **SECURITY_HEADERS,
    }
    head = f"HTTP/1.1 {status_int} {reason}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _write_problem


def on_starting(server) -> None:
    """Give this run an empty folder for the workers' metrics (service/metrics.py).

    Files left by an earlier run would be added into this run's counters, so an existing
    PROMETHEUS_MULTIPROC_DIR is emptied; without one, a temporary folder is made and removed
    on exit. Workers are forked after this, so they inherit the variable.
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
        server.stance_metrics_dir = None
    else:
        folder = tempfile.mkdtemp(prefix="stance-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        server.stance_metrics_dir = folder
    server.log.info("metrics in %s", folder)


def child_exit(server, worker) -> None:
    worker_exited(worker)  # first: nothing that fails below may leave its share of connections
    # Imported here: prometheus_client picks its multiprocess mode from the environment at import.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # its gauges stop counting as live


def worker_exit(server, worker) -> None:
    worker_exited(worker)  # in the worker as it leaves, or in the master for one already gone


def on_exit(server) -> None:
    if getattr(server, "stance_metrics_dir", None):
        shutil.rmtree(server.stance_metrics_dir, ignore_errors=True)
