"""Fixtures and options: one real model trained on the real corpus, in a temp folder, per session.

They serve every tier below this folder (code, data, model, service, cli).
What tests import (paths, the sample statement, start_gunicorn, assert_problem) is helpers.py.
Markers (pyproject.toml): `slow` is set on the tests; `browser` here on every test that uses
the `browser` fixture; `server` here on every test that uses the `server` fixture, and on the
tests that start a gunicorn of their own.
"""

import csv
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from model import Predictor
from service.app import create_app
from training.train import train

from .helpers import DATA, HELD_OUT, ROOT, start_gunicorn, stop


def pytest_addoption(parser):
    parser.addoption(
        "--model-dir",
        default=None,
        help="Test the current version of this model folder (a copy) instead of training one: "
        "`pytest tests/model/test_behaviour.py --model-dir artifacts` gates a candidate before "
        "promote.",
    )


def pytest_collection_modifyitems(items):
    # Marked by what they use, so that a new browser or server test cannot forget its marker.
    for item in items:
        used = getattr(item, "fixturenames", ())
        for marker in ("browser", "server"):
            if marker in used:
                item.add_marker(marker)


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


@pytest.fixture(scope="session")
def server_folder(tmp_path_factory) -> Path:
    """Where the session's gunicorn keeps its log (server.log) and feedback database."""
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="session")
def server(model_dir, server_folder) -> Iterator[str]:
    """A real gunicorn with two workers serving the session's model, as `make serve` runs it.

    Its base URL; one for the whole session, since booting it takes seconds. Tests that need
    other settings start their own with helpers.start_gunicorn.
    """
    process, base = start_gunicorn(model_dir, server_folder)
    try:
        yield base
    finally:
        stop(process)


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
