"""The `stance` CLI through click's runner and as a real subprocess."""

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pandas as pd
import pytest
import requests

from model import LABELS
from model.artifact import current_version
from service.cli import main

from ..helpers import DATA, ROOT, STANCE, TEST_DATA, WARNING, free_port

OFFER = "We remain open to dialogue without preconditions."


def test_help_lists_every_command(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("predict", "train", "evaluate", "score"):
        assert command in result.output
        sub = runner.invoke(main, [command, "--help"])
        assert sub.exit_code == 0 and "Usage:" in sub.output


def test_predict_prints_label_and_probabilities(runner):
    result = runner.invoke(main, ["predict", WARNING, OFFER])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("warning") and lines[0].endswith(WARNING)
    assert lines[1].startswith("conciliatory")
    assert all(label in lines[0] for label in LABELS)


def test_predict_and_help_start_without_importing_pandas(model_dir):
    # pandas and pyarrow are half a second of every start: only the commands that read files
    # need them (service/files.py names the file options without them).
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from service.cli import main\n"
        "runner = CliRunner()\n"
        "assert runner.invoke(main, ['--help']).exit_code == 0\n"
        "assert runner.invoke(main, ['score', '--help']).exit_code == 0\n"
        f"done = runner.invoke(main, ['predict', {WARNING!r}, '--model-dir', {str(model_dir)!r}])\n"
        "assert done.exit_code == 0 and 'warning' in done.output, done.output\n"
        "assert 'pandas' not in sys.modules and 'pyarrow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=300)


def test_scoring_a_csv_file_imports_neither_pandas_nor_pyarrow(model_dir, tmp_path):
    # CSV in and out is read and written with the csv module, on every core: the pandas and
    # pyarrow imports were a third of `stance score`'s start-up. JSON Lines and Parquet use them.
    source = tmp_path / "in.csv"
    source.write_text(f'id,text\n1,"{WARNING}"\n2,\n', encoding="utf-8")
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from service.cli import main\n"
        f"args = ['score', {str(source)!r}, '-o', {str(tmp_path / 'out.csv')!r}, '--jobs', '2',\n"
        f"        '--model-dir', {str(model_dir)!r}]\n"
        "done = CliRunner().invoke(main, args)\n"
        "assert done.exit_code == 0, done.output\n"
        "assert 'pandas' not in sys.modules and 'pyarrow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=300)
    scored = list(csv.reader((tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()))
    assert scored[0][:3] == ["id", "text", "label"] and scored[1][2] == "warning"
    assert scored[2][2:] == ["", "", "", "", ""]  # an empty text: no label, no numbers


def test_predict_json_has_the_api_shape(runner, predictor):
    result = runner.invoke(main, ["predict", "--json", WARNING])
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert body == {
        "model_version": predictor.version,
        "predictions": [p.as_dict() for p in predictor.predict([WARNING])],
    }


def test_predict_refuses_an_empty_text(runner):
    result = runner.invoke(main, ["predict", "fine", "  "])
    assert result.exit_code == 2
    assert "text 2 is empty" in result.output


def test_predict_without_a_model_says_how_to_train(runner, tmp_path):
    result = runner.invoke(main, ["predict", "--model-dir", str(tmp_path), WARNING])
    assert result.exit_code == 1
    assert "make train" in result.output and "Traceback" not in result.output


def test_score_through_the_runner(runner, write_csv, tmp_path):
    source = write_csv("in.csv", [["text"], [WARNING], [OFFER], [""]])
    result = runner.invoke(main, ["score", str(source), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    assert "scored 3 rows" in result.output and "1 empty" in result.output
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert out["label"].tolist() == ["warning", "conciliatory", ""]


def test_score_with_another_text_column(runner, write_csv, tmp_path):
    source = write_csv("in.csv", [["id", "body"], ["7", WARNING]])
    result = runner.invoke(
        main, ["score", str(source), "-o", str(tmp_path / "out.csv"), "--text-column", "body"]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "out.csv")["label"].tolist() == ["warning"]


def test_score_missing_column_is_exit_2_with_one_line(runner, write_csv, tmp_path):
    source = write_csv("in.csv", [["id", "body"], ["1", WARNING]])
    result = runner.invoke(main, ["score", str(source), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: no column 'text' in the input; its columns are: id, body "
        "(choose one with --text-column)"
    ]
    assert not (tmp_path / "out.csv").exists()


def test_score_stdin_to_stdout_as_a_subprocess(cli_env):
    completed = subprocess.run(
        [*STANCE, "score", "-", "-o", "-"],
        input=f'text,source\n"{WARNING}",wire\n"{OFFER}",quote\n',
        capture_output=True,
        text=True,
        env=cli_env,
        check=True,
    )
    lines = completed.stdout.splitlines()
    assert lines[0] == "text,source,label,confidence,p_conciliatory,p_neutral,p_warning"
    assert ",wire,warning," in lines[1] and ",quote,conciliatory," in lines[2]
    assert "scored 2 rows" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_unreadable_input_as_a_subprocess_is_exit_2_without_traceback(cli_env, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"text\n\xff\xfe broken\n")
    completed = subprocess.run(
        [*STANCE, "score", str(source), "-o", str(tmp_path / "out.csv")],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("Error:") and "not UTF-8" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out.csv").exists()


def test_predict_as_a_subprocess(cli_env):
    completed = subprocess.run(
        [*STANCE, "predict", OFFER], capture_output=True, text=True, env=cli_env, check=True
    )
    assert completed.stdout.startswith("conciliatory")


@pytest.mark.slow
def test_train_and_evaluate_as_a_subprocess(tmp_path):
    small = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    small = small.groupby("label").head(60)
    small.to_csv(tmp_path / "small.csv", index=False)
    env_free = {
        "STANCE_MODEL_DIR": str(tmp_path / "models"),
        "PATH": str(Path(sys.executable).parent),
        "PYTHONPATH": str(ROOT),
    }
    trained = run_on_a_terminal(
        [*STANCE, "train", "--data", tmp_path / "small.csv", "--test", TEST_DATA],
        env=env_free,
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    version = current_version(tmp_path / "models")
    assert f"trained {version} on 180 statements" in trained.stdout
    assert "cross-validated macro-F1" in trained.stdout
    # On a terminal, a bar per stage with the time left: the search's fits (3 values of C x 2
    # of min_df x 5 folds), then the final fit with the time the folds' fits say it takes.
    shown = trained.stderr
    assert re.search(r"cross-validation fits: 100%.* 30/30 \[\d\d:\d\d<\d\d:\d\d", shown)
    assert re.search(r" (?:[1-9]|[12]\d)/30 \[\d\d:\d\d<\d\d:\d\d", shown)  # time left, midway
    assert re.search(r"fitting on all statements \(about \d+ s\): 100%.* 1/1", shown)
    for stage in ("checking the data", "evaluating on the held-out files"):
        assert f"{stage}: 100%" in shown
    evaluated = subprocess.run(
        [
            *STANCE,
            "evaluate",
            "--data",
            TEST_DATA,
            "--train-data",
            tmp_path / "small.csv",
            "--reports",
            tmp_path / "reports",
        ],
        capture_output=True,
        text=True,
        env=env_free,
        cwd=tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "macro-F1" in evaluated.stdout and "confusion matrix" in evaluated.stdout
    assert "majority-class baseline" in evaluated.stdout
    saved = json.loads((tmp_path / "reports" / version / "report.json").read_text())
    assert saved["model_version"] == version and saved["n"] > 0
    assert (tmp_path / "reports" / version / "report.md").is_file()
    # Training wrote the same report beside the model.
    assert (tmp_path / "models" / version / "report" / "report.md").is_file()


def run_on_a_terminal(command: list, **popen) -> subprocess.CompletedProcess:
    """Run command with its stderr on a pseudo-terminal, as a user at a shell sees it."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    ours, theirs = pty.openpty()
    # A new pseudo-terminal is 0 columns wide; a user's is not: 24 rows of 120.
    fcntl.ioctl(theirs, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    shown = bytearray()

    def read() -> None:  # all along: a full terminal buffer would block the command
        with contextlib.suppress(OSError):  # EIO once the command has closed its end
            while chunk := os.read(ours, 4096):
                shown.extend(chunk)

    reader = threading.Thread(target=read)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=theirs, **popen) as process:
        os.close(theirs)
        reader.start()
        stdout = process.stdout.read()
    reader.join()
    os.close(ours)
    return subprocess.CompletedProcess(
        command, process.returncode, stdout.decode(), shown.decode(errors="replace")
    )


def test_train_refuses_bad_data_naming_rows(runner, write_csv, tmp_path):
    bad = write_csv("bad.csv", [["text", "label"], ["We condemn it.", "angry"], ["", "neutral"]])
    result = runner.invoke(
        main, ["train", "--data", str(bad), "--test", str(TEST_DATA), "--model-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "bad.csv row 2: unknown label 'angry'" in result.output
    assert "bad.csv row 3: empty text" in result.output
    assert not (tmp_path / "CURRENT").exists()


@pytest.mark.parametrize("command", [["predict"], ["score"]])
def test_missing_arguments_are_usage_errors(runner, command):
    result = runner.invoke(main, command)
    assert result.exit_code == 2 and "Usage:" in result.output


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [["id", "text"], ["1", WARNING, "extra"]],
            "in.csv row 2: 3 field(s), but the header has 2",
        ),
        ([["id", "text"], ["1", WARNING], ["2"]], "in.csv row 3: 1 field(s), but the header has 2"),
        ([["text", "text"], [WARNING, OFFER]], "in.csv: the column name(s) 'text' appear twice"),
    ],
)
def test_ragged_rows_and_duplicate_columns_are_exit_2(runner, write_csv, tmp_path, rows, message):
    source = write_csv("in.csv", rows)
    for jobs in ("1", "2"):
        result = runner.invoke(
            main, ["score", str(source), "-o", str(tmp_path / "o.csv"), "-j", jobs]
        )
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [f"Error: {tmp_path}/{message}"]
        assert not (tmp_path / "o.csv").exists()


def test_a_ragged_first_row_as_a_subprocess_is_exit_2_naming_the_row(cli_env, tmp_path):
    (tmp_path / "in.csv").write_text(f"id,text\n1,{WARNING},extra\n2,{OFFER}\n")
    completed = subprocess.run(
        [*STANCE, "score", "in.csv", "-o", "out.csv"],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
    )
    assert completed.returncode == 2
    assert completed.stderr == "Error: in.csv row 2: 3 field(s), but the header has 2\n"
    assert not (tmp_path / "out.csv").exists()


def test_a_bad_byte_as_a_subprocess_names_row_and_offset(cli_env, tmp_path):
    (tmp_path / "in.csv").write_bytes(b"text\n" + b"Talks resume.\n" * 100_000 + b"caf\xe9\n")
    completed = subprocess.run(
        [*STANCE, "score", "in.csv", "-o", "out.csv", "-j", "2"],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
    )
    assert completed.returncode == 2
    offset = 5 + 14 * 100_000 + 3
    assert completed.stderr == (
        f"Error: in.csv row 100002: not UTF-8 text (invalid continuation byte at byte {offset} "
        f"of the file)\n"
    )
    assert not (tmp_path / "out.csv").exists()


SEED = "The U.S. has warned China against interfering in the elections."


def test_predict_with_actors_prints_speaker_and_target(runner):
    result = runner.invoke(main, ["predict", "--actors", SEED])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("warning")
    assert "speaker USA, target CHN" in lines[1]
    assert "U.S. 4-8 USA speaker" in lines[1] and "China 20-25 CHN target" in lines[1]


def test_predict_json_with_actors(runner):
    result = runner.invoke(main, ["predict", "--json", "--actors", SEED])
    assert result.exit_code == 0, result.output
    actors = json.loads(result.output)["predictions"][0]["actors"]
    assert (actors["speaker"], actors["target"]) == ("USA", "CHN")


def test_analyze_with_actors(runner, tmp_path):
    article = tmp_path / "article.txt"
    article.write_text(SEED + " The talks will be held in Geneva.", encoding="utf-8")
    result = runner.invoke(main, ["analyze", "--actors", str(article)])
    assert result.exit_code == 0, result.output
    assert "speaker USA, target CHN" in result.output
    assert "speaker -, target -   actors: -" in result.output


def commands(group: click.Group, path: tuple[str, ...] = ("stance",)):
    """Every command and group under group, with the words that invoke it."""
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def test_every_help_ends_with_an_example_of_its_own_command(runner):
    for path, _ in [(("stance",), main), *commands(main)]:
        result = runner.invoke(main, [*path[1:], "--help"])
        assert result.exit_code == 0, result.output
        lines = result.output.rstrip().splitlines()
        assert lines[-2].strip() == "Example:", path
        example, command = lines[-1].strip(), " ".join(path)
        assert example == command or example.startswith(command + " "), example
    assert len(list(commands(main))) >= 15  # the walk found every command


def test_analyze_into_a_file_or_a_pipe_keeps_whole_sentences(runner, cli_env, tmp_path):
    long = (
        "The foreign ministry said on Tuesday that it remained ready to resume talks with its "
        "neighbours at any level and without preconditions, and thanked the mediators."
    )
    assert len(long) > 150
    article = tmp_path / "article.txt"
    article.write_text(long + " The talks will be held in Geneva.", encoding="utf-8")
    result = runner.invoke(main, ["analyze", str(article)])
    assert result.exit_code == 0, result.output
    assert long in result.output and "…" not in result.output
    with open(tmp_path / "out.txt", "w") as out:
        subprocess.run([*STANCE, "analyze", str(article)], stdout=out, env=cli_env, check=True)
    assert long in (tmp_path / "out.txt").read_text(encoding="utf-8")


def test_serve_answers_over_http_as_make_serve_does(predictor, cli_env, tmp_path):
    port = free_port()
    env = {**cli_env, "STANCE_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            [*STANCE, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=tmp_path,  # from any folder, as an installed Stance
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 240  # the CLI's start, then gunicorn's and the model's
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "stance serve never became ready"
            try:
                ready = requests.get(f"{base}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert ready.json()["model_version"] == predictor.version
        answer = requests.post(f"{base}/v1/predict", json={"texts": [WARNING, OFFER]}, timeout=30)
        assert answer.status_code == 200
        assert [p["label"] for p in answer.json()["predictions"]] == ["warning", "conciliatory"]
        # gunicorn took the command's place: the process we started is its master.
        with open(f"/proc/{process.pid}/cmdline", "rb") as handle:
            assert b"gunicorn" in handle.read()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
