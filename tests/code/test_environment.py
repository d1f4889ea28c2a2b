"""The command line against a hostile environment: full disks, read-only folders, shell text in
make variables, and settings that look like JSON."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from model.artifact import current_version
from service.app import create_app

from ..helpers import DATA, ROOT, STANCE, TEST_DATA

VENV = Path(sys.executable).parent.parent


@pytest.fixture
def mount_tmpfs(tmp_path):
    """Return a function that mounts a small tmpfs of its own; each is unmounted afterwards."""
    mounted = []

    def mount(name: str, size: str = "1m") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        try:
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError) as error:
            pytest.skip(f"cannot mount a tmpfs here: {error}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", folder], check=False)


def remount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", folder], check=True)


def run_stance(args: list, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*STANCE, *map(str, args)], capture_output=True, text=True, env=env, **kwargs
    )


def one_line_error(completed: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert completed.returncode == code, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines


def test_a_full_disk_during_score_is_one_line_and_exit_1(cli_env, mount_tmpfs, tmp_path):
    # A real full disk: a 1 MiB tmpfs, and an input whose scored output is larger than that.
    disk = mount_tmpfs("disk", "1m")
    (disk / "out.csv").write_text("older result\n")
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "Talks resume on Monday in Geneva.\n" * 20_000)
    for jobs in ("1", "2"):
        completed = run_stance(["score", source, "-o", disk / "out.csv", "-j", jobs], cli_env)
        one_line_error(completed, 1, f"{disk / 'out.csv'}: No space left on device")
        assert "Traceback" not in completed.stderr
        assert (disk / "out.csv").read_text() == "older result\n"
        assert os.listdir(disk) == ["out.csv"]  # the temp file is gone too


def test_promote_into_a_read_only_folder_is_one_line_and_exit_1(model_dir, cli_env, mount_tmpfs):
    folder = mount_tmpfs("artifacts", "64m")
    shutil.copytree(model_dir, folder, dirs_exist_ok=True)
    version = current_version(folder)
    (folder / "CURRENT").write_text("older\n")
    remount_read_only(folder)
    completed = run_stance(["promote", version, "--model-dir", folder], cli_env)
    one_line_error(completed, 1, "Read-only file system")
    assert (folder / "CURRENT").read_text() == "older\n"


@pytest.mark.slow
def test_train_into_a_read_only_folder_is_one_line_and_exit_1(cli_env, mount_tmpfs, tmp_path):
    folder = mount_tmpfs("artifacts", "1m")
    remount_read_only(folder)
    small = pd.read_csv(DATA, dtype=str, keep_default_na=False).groupby("label").head(60)
    small.to_csv(tmp_path / "small.csv", index=False)
    args = ["train", "--data", tmp_path / "small.csv", "--test", TEST_DATA, "--no-search"]
    completed = run_stance([*args, "--model-dir", folder], cli_env, cwd=tmp_path)
    one_line_error(completed, 1, "Read-only file system")
    assert os.listdir(folder) == []


# make: values with shell syntax in them are data, never commands.

HOSTILE = [
    "$$(touch {marker})",
    "$(touch {marker})",
    "`touch {marker}`",
    '"; touch {marker}; "',
    "'; touch {marker}; '",
    "$(shell touch {marker})",
]


def make(target: str, model_dir: Path, env: dict, **values: str) -> subprocess.CompletedProcess:
    """Run a real make target of this checkout against the test model, never retraining."""
    return subprocess.run(
        [
            "make",
            "-s",
            "-C",
            ROOT,
            target,
            f"VENV={VENV}",
            f"STANCE={sys.executable} -m service.cli",
            f"MODEL_DIR={model_dir}",
            # Neither the venv nor the model is remade, even when a source file is newer.
            "-o",
            f"{VENV}/.installed",
            "-o",
            f"{model_dir}/CURRENT",
            *(f"{name}={value}" for name, value in values.items()),
        ],
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.parametrize("hostile", HOSTILE)
def test_make_passes_its_variables_to_the_shell_as_data(
    model_dir, cli_env, tmp_path, write_csv, hostile
):
    marker = tmp_path / "ran"
    value = hostile.format(marker=marker)
    promoted = make("promote", model_dir, cli_env, VERSION=value)
    assert promoted.returncode != 0
    predicted = make("predict", model_dir, cli_env, TEXT=f"We condemn the attack {value}")
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.startswith("warning")
    # As a file name the marker has no folder: a recipe that ran it would touch ROOT/ran.
    name = hostile.format(marker="ran") + ".csv"
    source = write_csv("in.csv", [["text"], ["We condemn the attack."]])
    scored = make("score", model_dir, cli_env, IN=str(source), OUT=str(tmp_path / name))
    assert scored.returncode == 0, scored.stderr
    assert (tmp_path / name).read_text().startswith("text,label")
    assert not marker.exists()
    assert not (ROOT / "ran").exists()


def test_make_score_takes_a_file_name_with_quotes_and_dollars(model_dir, cli_env, tmp_path):
    name = tmp_path / """it's "quoted" $HOME `x` $(y).csv"""
    name.write_text("body\nWe remain open to dialogue.\n")
    scored = make("score", model_dir, cli_env, IN=str(name), OUT=f"{name}.out", COLUMN="body")
    assert scored.returncode == 0, scored.stderr
    assert ",conciliatory," in Path(f"{name}.out").read_text()


# Settings: the admin token is a string, whatever it looks like.


@pytest.mark.parametrize(
    ("token", "as_json"),
    [("1e3", "1000.0"), ("0", None), ("false", None), ("null", None), ('"q"', "q"), ("007", None)],
)
def test_the_admin_token_is_read_as_a_string(model_dir, monkeypatch, token, as_json):
    # as_json: what the token became when it was parsed as JSON (None: the endpoint was off).
    monkeypatch.setenv("STANCE_ADMIN_TOKEN", token)
    client = create_app({"TESTING": True, "MODEL_DIR": str(model_dir)}).test_client()
    assert client.post("/v1/admin/reload").status_code == 401  # the endpoint exists
    right = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {token}"})
    assert right.status_code == 200, right.get_json()
    if as_json:
        wrong = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {as_json}"})
        assert wrong.status_code == 403
