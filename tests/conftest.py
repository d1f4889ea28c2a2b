"""Shared fixtures: one real model trained on the real corpus, in a temp folder, per session."""

import csv
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from model import Predictor
from service.app import create_app
from training.train import train

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "statements.csv"
TEST_DATA = ROOT / "data" / "test.csv"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """Train the default pipeline on data/statements.csv, as `make train` would, into a temp dir."""
    folder = tmp_path_factory.mktemp("artifacts")
    train(DATA, TEST_DATA, folder, search=False)
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
    return {**os.environ, "STANCE_MODEL_DIR": str(model_dir)}


@pytest.fixture
def write_csv(tmp_path):
    """Return a function that writes rows as a real CSV file under tmp_path."""

    def write(name: str, rows: list[list[str]]) -> Path:
        path = tmp_path / name
        with open(path, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(rows)
        return path

    return write
