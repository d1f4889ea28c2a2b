"""Where Stance keeps its files: models, reports, feedback, and the corpus it trains on.

Each path is, in this order of precedence:

1. its own variable: STANCE_MODEL_DIR, STANCE_REPORTS_DIR, STANCE_FEEDBACK_DB;
2. under STANCE_HOME, when that is set;
3. inside a checkout (the working directory holds Stance's own pyproject.toml): relative to it,
   as `make` and the tests have always used them (artifacts/, reports/, feedback.sqlite3);
4. under the per-user data folder (platformdirs: ~/.local/share/stance on Linux).

The corpus is data/ in a checkout and otherwise the copy the package ships (model/corpus is a
link to data/, so the wheel carries the files and git holds them once).

Every path is read when asked for, never at import: the working directory and the environment
may change between calls (tests, notebooks).
"""

import os
import tomllib
from pathlib import Path

import platformdirs

PROJECT = "stance"
HOME_VARIABLE = "STANCE_HOME"
MODEL_DIR_VARIABLE = "STANCE_MODEL_DIR"
REPORTS_VARIABLE = "STANCE_REPORTS_DIR"
FEEDBACK_VARIABLE = "STANCE_FEEDBACK_DB"

MODEL_DIR_NAME = "artifacts"
REPORTS_NAME = "reports"
FEEDBACK_NAME = "feedback.sqlite3"

TRAIN_FILE = "statements.csv"
# Held out from training: our own test statements, and news-wire copy standing in for real news.
TEST_FILE = "test.csv"
NEWS_TEST_FILE = "news_test.csv"
PACKAGED_CORPUS = Path(__file__).resolve().parent / "corpus"


def in_checkout(folder: Path | None = None) -> bool:
    """Say whether folder (default: the working directory) is a checkout of Stance."""
    pyproject = (folder or Path.cwd()) / "pyproject.toml"
    try:
        with open(pyproject, "rb") as handle:
            return tomllib.load(handle).get("project", {}).get("name") == PROJECT
    except (OSError, tomllib.TOMLDecodeError):
        return False


def home() -> Path:
    """Return the folder that holds Stance's files outside a checkout, creating it."""
    given = os.environ.get(HOME_VARIABLE)
    folder = Path(given).expanduser() if given else platformdirs.user_data_path(PROJECT)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _place(variable: str, name: str) -> Path:
    if os.environ.get(variable):
        return Path(os.environ[variable]).expanduser()
    if not os.environ.get(HOME_VARIABLE) and in_checkout():
        return Path(name)
    return home() / name


def model_dir() -> Path:
    """Return the folder of model versions and their CURRENT pointer."""
    return _place(MODEL_DIR_VARIABLE, MODEL_DIR_NAME)


def reports_dir() -> Path:
    """Return the folder `stance evaluate` writes its reports to."""
    return _place(REPORTS_VARIABLE, REPORTS_NAME)


def feedback_db() -> Path:
    """Return the SQLite file that holds users' corrections."""
    return _place(FEEDBACK_VARIABLE, FEEDBACK_NAME)


def corpus_file(name: str) -> Path:
    """Return one labelled corpus file: data/NAME in a checkout, else the packaged copy."""
    return Path("data", name) if in_checkout() else PACKAGED_CORPUS / name


def training_data() -> Path:
    return corpus_file(TRAIN_FILE)


def test_data() -> Path:
    return corpus_file(TEST_FILE)


def news_test_data() -> Path:
    return corpus_file(NEWS_TEST_FILE)


def held_out_data() -> tuple[Path, ...]:
    return test_data(), news_test_data()


def train_command() -> str:
    """Return the command that trains a model here, for messages that say to run it."""
    return "`make train`" if in_checkout() else "`stance train`"


def describe() -> dict[str, str]:
    """Return where each of Stance's files is right now, for `stance paths` and the README."""
    return {
        "checkout": str(Path.cwd()) if in_checkout() else "no",
        "home": str(home()),
        "model_dir": str(model_dir()),
        "reports": str(reports_dir()),
        "feedback_db": str(feedback_db()),
        "training_data": str(training_data()),
        "held_out_data": ", ".join(str(path) for path in held_out_data()),
    }
