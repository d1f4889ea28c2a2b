"""The built wheel, installed into a fresh venv, trains, predicts and scores from an empty folder.

A fresh venv that installs Stance's dependencies from the wheel's own metadata, from pip's
cache: a dependency missing from pyproject.toml, a file missing from the wheel or a path that
only works inside a checkout fails here. It costs minutes (8.5 on our loaded 2-core machine:
building the wheel about 1, installing into the venv 3 to 4, training without search 1 to 2),
which is why it is marked slow rather than sharing the project's .venv, which would hide a
missing dependency.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT

pytestmark = pytest.mark.slow

# What building the wheel reads: the code, its data, and the project's description.
SOURCES = ("pyproject.toml", "README.md", "model", "service", "training", "data")
PACKAGE_DATA_WARNING = "absent from the `packages` configuration"


def run(command: list, cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """Build the wheel from a copy of the sources (building writes build/ there); install it."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "drafts")
            shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STANCE_", "XDG_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["HOME"] = str(base / "home")  # the per-user data folder is in there
    (base / "home").mkdir()
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", str(source), "-w", str(base / "dist")],
        cwd=base,
        env=env,
    )
    assert PACKAGE_DATA_WARNING not in built.stdout + built.stderr
    (wheel,) = (base / "dist").glob("stance-*.whl")
    venv = base / "venv"
    run([sys._base_executable, "-m", "venv", str(venv)], cwd=base, env=env)
    run([venv / "bin" / "pip", "install", "--quiet", str(wheel)], cwd=base, env=env)
    return venv, env


def test_the_wheel_works_from_an_empty_folder(installed, tmp_path):
    venv, env = installed
    stance = str(venv / "bin" / "stance")
    folder = tmp_path / "empty"
    folder.mkdir()
    user_home = Path(env["HOME"]) / ".local" / "share" / "stance"

    # No arguments for the data: the corpus ships in the package (no search, to save minutes).
    trained = run([stance, "train", "--no-search"], cwd=folder, env=env)
    assert "trained" in trained.stdout and "made current" in trained.stdout
    assert (user_home / "artifacts" / "CURRENT").is_file()

    predicted = run(
        [stance, "predict", "--json", "We condemn the attack on the embassy."], cwd=folder, env=env
    )
    assert json.loads(predicted.stdout)["predictions"][0]["label"] == "warning"

    with open(folder / "in.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["text"], ["We remain open to dialogue without preconditions."], [""]]
        )
    run([stance, "score", "in.csv", "-o", "out.csv"], cwd=folder, env=env)
    with open(folder / "out.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["label"] for row in rows] == ["conciliatory", ""]

    run([stance, "evaluate"], cwd=folder, env=env)
    assert list((user_home / "reports").glob("*/report.md"))

    # From Python too, the home's current model, through the package's own API.
    python = (
        "import model; print(model.load()(['Beijing warned that the sale would damage ties.']))"
    )
    answered = run([venv / "bin" / "python", "-c", python], cwd=folder, env=env)
    assert "'label': 'warning'" in answered.stdout

    # Nothing was written where the commands ran, but what they were told to write.
    assert sorted(path.name for path in folder.iterdir()) == ["in.csv", "out.csv"]
