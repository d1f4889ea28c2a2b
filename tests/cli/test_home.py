"""Stance's home (model/home.py): which folder each file lives in, from where it is asked."""

import shutil
from pathlib import Path

import pytest

from model import home
from service.app import create_app

from ..helpers import ROOT

VARIABLES = ("STANCE_HOME", "STANCE_MODEL_DIR", "STANCE_REPORTS_DIR", "STANCE_FEEDBACK_DB")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Stance variables, and a per-user data folder inside tmp_path (XDG, as on Linux)."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "stance"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "checkout"
    folder.mkdir()
    shutil.copy(ROOT / "pyproject.toml", folder)
    monkeypatch.chdir(folder)
    return folder


def test_outside_a_checkout_everything_is_under_the_per_user_folder(clean_env, elsewhere):
    assert home.home() == clean_env and clean_env.is_dir()
    assert home.model_dir() == clean_env / "artifacts"
    assert home.reports_dir() == clean_env / "reports"
    assert home.feedback_db() == clean_env / "feedback.sqlite3"
    assert home.train_command() == "`stance train`"


def test_outside_a_checkout_the_corpus_is_the_packaged_copy(clean_env, elsewhere):
    assert home.training_data() == home.PACKAGED_CORPUS / "statements.csv"
    # The packaged copy is the checkout's data/ (a link), byte for byte.
    for packaged, source in zip(
        (home.training_data(), *home.held_out_data()),
        (ROOT / "data" / name for name in ("statements.csv", "test.csv", "news_test.csv")),
        strict=True,
    ):
        assert packaged.read_bytes() == source.read_bytes()


def test_inside_a_checkout_the_working_directory_wins(clean_env, checkout):
    assert home.model_dir() == Path("artifacts")
    assert home.reports_dir() == Path("reports")
    assert home.feedback_db() == Path("feedback.sqlite3")
    assert home.training_data() == Path("data/statements.csv")
    assert home.train_command() == "`make train`"


def test_another_projects_pyproject_is_not_a_checkout(clean_env, elsewhere):
    (elsewhere / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert home.model_dir() == clean_env / "artifacts"
    (elsewhere / "pyproject.toml").write_text("not toml [")
    assert home.model_dir() == clean_env / "artifacts"


def test_stance_home_wins_over_the_checkout(clean_env, checkout, tmp_path, monkeypatch):
    monkeypatch.setenv("STANCE_HOME", str(tmp_path / "mine"))
    assert home.model_dir() == tmp_path / "mine" / "artifacts"
    assert home.feedback_db() == tmp_path / "mine" / "feedback.sqlite3"
    assert (tmp_path / "mine").is_dir()
    # The corpus is not a user's file: in a checkout it stays data/.
    assert home.training_data() == Path("data/statements.csv")


def test_each_files_own_variable_wins_over_everything(clean_env, checkout, tmp_path, monkeypatch):
    monkeypatch.setenv("STANCE_HOME", str(tmp_path / "mine"))
    monkeypatch.setenv("STANCE_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("STANCE_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("STANCE_FEEDBACK_DB", str(tmp_path / "fb.sqlite3"))
    assert home.model_dir() == tmp_path / "models"
    assert home.reports_dir() == tmp_path / "reports"
    assert home.feedback_db() == tmp_path / "fb.sqlite3"


def test_the_app_takes_its_paths_from_the_home_when_made(clean_env, elsewhere, model_dir):
    app = create_app({"TESTING": True})
    assert app.config["MODEL_DIR"] == str(clean_env / "artifacts")
    assert app.config["FEEDBACK_DB"] == str(clean_env / "feedback.sqlite3")
    # No model there yet: the app starts and says how to get one, in words for this place.
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "stance train" in response.get_json()["detail"]
    shutil.copytree(model_dir, clean_env / "artifacts")
    assert create_app({"TESTING": True}).test_client().get("/readyz").status_code == 200
