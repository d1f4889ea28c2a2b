"""What tests share besides fixtures: paths, the sample statement, a real gunicorn, assertions.

Fixtures and command-line options live in conftest.py; everything a test imports lives here.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

TESTS = Path(__file__).resolve().parent  # the tiers' folders, and the data some tests read
ROOT = TESTS.parent
DATA = ROOT / "data" / "statements.csv"
TEST_DATA = ROOT / "data" / "test.csv"
NEWS_TEST_DATA = ROOT / "data" / "news_test.csv"
HELD_OUT = (TEST_DATA, NEWS_TEST_DATA)
BIN = Path(sys.executable).parent
# `stance` as a subprocess, from this checkout: the venv's entry point may be installed editable
# from another one, and PYTHONPATH in cli_env puts this one first for `-m` from any folder.
STANCE = [sys.executable, "-m", "service.cli"]

# The statement most tests send: the model calls it a warning with near certainty.
WARNING = "Beijing warned that the arms sale would seriously damage relations."


def assert_problem(response, status: int, *detail_words: str) -> dict:
    """Assert a Flask test response is problem+json with status and words in its detail."""
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert set(body) == {"type", "title", "status", "detail"}
    assert body["status"] == status
    for word in detail_words:
        assert word in body["detail"]
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180  # seconds, on a loaded machine; a calm one needs a few
    while True:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or workers still booting
            pass
        assert process.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, "gunicorn never became ready"
        time.sleep(0.2)


def start_gunicorn(
    model_dir: Path, folder: Path, workers: int = 2, env: dict | None = None, **config: str
) -> tuple[subprocess.Popen, str]:
    """Start the real app as `make serve` does, on a free port; config becomes STANCE_* vars.

    The feedback database goes to folder, and the server's log to folder/server.log, so nothing
    is written into the repository. Tests that need no settings of their own use the session's
    `server` fixture (conftest.py) instead.
    """
    port = free_port()
    variables = {
        **os.environ,
        "STANCE_MODEL_DIR": str(model_dir),
        "STANCE_FEEDBACK_DB": str(folder / "feedback.sqlite3"),
        **{f"STANCE_{name}": value for name, value in config.items()},
    }
    variables.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes its own, as `make serve`
    variables.update(env or {})
    with open(folder / "server.log", "ab") as log:
        process = subprocess.Popen(
            [
                BIN / "gunicorn",
                "--config",
                "python:service.server",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=variables,
            stdout=log,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process)
    except BaseException:
        stop(process)
        raise
    return process, base


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)
