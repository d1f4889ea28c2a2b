"""Shared fixtures: one real model trained on the real corpus, in a temp folder, per session."""

import csv
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from model import Predictor
from service.app import create_app
from training.train import train

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "statements.csv"
TEST_DATA = ROOT / "data" / "test.csv"
NEWS_TEST_DATA = ROOT / "data" / "news_test.csv"
HELD_OUT = (TEST_DATA, NEWS_TEST_DATA)
BIN = Path(sys.executable).parent
# `stance` as a subprocess, from this checkout: the venv's entry point may be installed editable
# from another one, and PYTHONPATH in cli_env puts this one first for `-m` from any folder.
STANCE = [sys.executable, "-m", "service.cli"]


def pytest_addoption(parser):
    parser.addoption(
        "--model-dir",
        default=None,
        help="Test the current version of this model folder (a copy) instead of training one: "
        "`pytest tests/test_behaviour.py --model-dir artifacts` gates a candidate before promote.",
    )


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, request) -> Path:
    """Train the default pipeline on data/statements.csv, as `make train` would, into a temp dir.

    With --model-dir, a copy of that folder instead: tests may damage their model folder.
    """
    folder = tmp_path_factory.mktemp("artifacts")
    given = request.config.getoption("--model-dir")
    if given:
        shutil.copytree(given, folder, dirs_exist_ok=True)
        return folder
    train(DATA, HELD_OUT, folder, search=False)
    return folder


@pytest.fixture(scope="session")
def predictor(model_dir) -> Predictor:
    return Predictor.load_current(model_dir)


@pytest.fixture
def app(model_dir):
    return create_app({"TESTING": True, "MODEL_DIR": str(model_dir)})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(model_dir, monkeypatch) -> CliRunner:
    monkeypatch.setenv("STANCE_MODEL_DIR", str(model_dir))
    return CliRunner()


@pytest.fixture
def cli_env(model_dir) -> dict[str, str]:
    """Environment for running `stance` as a subprocess against the session's model."""
    return {**os.environ, "STANCE_MODEL_DIR": str(model_dir), "PYTHONPATH": str(ROOT)}


@pytest.fixture
def write_csv(tmp_path):
    """Return a function that writes rows as a real CSV file under tmp_path."""

    def write(name: str, rows: list[list[str]]) -> Path:
        path = tmp_path / name
        with open(path, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(rows)
        return path

    return write


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
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
    is written into the repository.
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
