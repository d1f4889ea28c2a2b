"""Batch scoring of real CSV files: every row and column kept, errors clean, output atomic."""

import csv
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from model import LABELS
from model.artifact import file_mode
from service.batch import OUTPUT_COLUMNS, ScoreError, score_csv

from .conftest import BIN

TRICKY_ROWS = [
    ["id", "text", "source"],
    ["1", 'The ministry said: "We will respond firmly, and without delay."', "wire, Reuters"],
    ["2", "Both sides agreed to meet again.\nA joint statement followed.", "multi\nline"],
    ["3", "", "empty text"],
    ["4", "NA", "NA"],
    ["5", "None", "null"],
    ["6", "Pékin a averti Taïwan — 北京警告台湾 — «ligne rouge»", "unicode ✓"],
    ["7", "   ", "blank"],
    ["8", "Seoul and Tokyo pledged to deepen cooperation, the readout said.", ""],
]


def read_all(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_scoring_keeps_every_row_and_column_and_adds_the_outputs(predictor, write_csv, tmp_path):
    source = write_csv("in.csv", TRICKY_ROWS)
    summary = score_csv(predictor, source, tmp_path / "out.csv", chunk_rows=3)
    out = read_all(tmp_path / "out.csv")
    original = read_all(source)
    assert list(out.columns) == [*original.columns, *OUTPUT_COLUMNS]
    pd.testing.assert_frame_equal(out[original.columns], original)
    assert summary.rows == 8 and summary.empty == 2
    empty = out["text"].str.strip() == ""
    assert (out.loc[empty, list(OUTPUT_COLUMNS)] == "").all().all()
    scored = out[~empty]
    assert set(scored["label"]) <= set(LABELS)
    probabilities = scored[[f"p_{label}" for label in LABELS]].astype(float)
    assert (probabilities.sum(axis=1).round(4) == 1).all()
    assert (scored["confidence"].astype(float) == probabilities.max(axis=1)).all()
    assert sum(summary.counts.values()) == 6


def test_the_output_gets_ordinary_permissions(predictor, write_csv, tmp_path):
    source = write_csv("in.csv", [["text"], ["Talks resume Monday."]])
    score_csv(predictor, source, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == file_mode()
    assert file_mode() & 0o044  # readable by others under the usual umask, unlike mkstemp's 0600


def test_chunk_size_does_not_change_the_result(predictor, write_csv, tmp_path):
    source = write_csv("in.csv", TRICKY_ROWS)
    score_csv(predictor, source, tmp_path / "one.csv", chunk_rows=1)
    score_csv(predictor, source, tmp_path / "all.csv", chunk_rows=1000)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "all.csv").read_bytes()


def test_batch_scores_match_single_predictions(predictor, write_csv, tmp_path):
    texts = ["We condemn the attack.", "Talks resume Monday.", "We thank Norway for its help."]
    source = write_csv("in.csv", [["text"], *[[t] for t in texts]])
    score_csv(predictor, source, tmp_path / "out.csv")
    out = read_all(tmp_path / "out.csv")
    assert out["label"].tolist() == [p.label for p in predictor.predict(texts)]


def test_header_only_file_gives_header_only_output(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n")
    summary = score_csv(predictor, source, tmp_path / "out.csv")
    assert summary.rows == 0
    assert (tmp_path / "out.csv").read_text().splitlines() == [
        ",".join(["id", "text", *OUTPUT_COLUMNS])
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,body\n1,hello\n", "no column 'text' in the input; its columns are: id, body"),
        ("text,label\nhello,x\n", "already has output column(s) label"),
        ("", "empty file"),
        ('text\n"unterminated\n', "not a readable CSV"),
        ("text\nok\nbad,row,here\n", "line 3"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(predictor, tmp_path, content, message):
    source = tmp_path / "in.csv"
    source.write_text(content)
    with pytest.raises(ScoreError, match=re.escape(message)):
        score_csv(predictor, source, tmp_path / "out.csv")
    assert os.listdir(tmp_path) == ["in.csv"]


def test_undecodable_file_fails_cleanly(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"text\n" + "caf\xe9 talks\n".encode("latin-1"))
    with pytest.raises(ScoreError, match="not UTF-8"):
        score_csv(predictor, source, tmp_path / "out.csv")
    assert os.listdir(tmp_path) == ["in.csv"]


def test_failure_midway_leaves_an_older_output_untouched(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "Talks resume.\n" * 10 + "a,b\n")
    (tmp_path / "out.csv").write_text("older result\n")
    with pytest.raises(ScoreError, match="line 12"):
        score_csv(predictor, source, tmp_path / "out.csv", chunk_rows=2)
    assert (tmp_path / "out.csv").read_text() == "older result\n"
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "out.csv"]


def write_big_csv(path, rows: int) -> None:
    # Distinct rows, so nothing can be cached; each sentence is one of a few real shapes.
    shapes = [
        "Officials in capital {i} warned that the blockade would be met with countermeasures.",
        "The delegation from district {i} will arrive on Monday for the annual meeting.",
        "Leaders pledged at summit {i} to reopen the border and resume dialogue.",
        "",
    ]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([i, shapes[i % 4].format(i=i)])


def test_a_100000_row_file(predictor, tmp_path):
    write_big_csv(tmp_path / "big.csv", 100_000)
    summary = score_csv(predictor, tmp_path / "big.csv", tmp_path / "out.csv")
    assert summary.rows == 100_000 and summary.empty == 25_000
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert len(out) == 100_000
    assert out["id"].tolist() == [str(i) for i in range(100_000)]
    assert summary.counts == out.loc[out["label"] != "", "label"].value_counts().to_dict()


def start_scoring(cli_env, tmp_path) -> subprocess.Popen:
    """Start `stance score` on a large file over an older output; return once it is writing."""
    write_big_csv(tmp_path / "big.csv", 200_000)
    (tmp_path / "out.csv").write_text("older result\n")
    process = subprocess.Popen(
        [BIN / "stance", "score", "big.csv", "-o", "out.csv", "--chunk-rows", "500"],
        cwd=tmp_path,
        env=cli_env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not any(name.endswith(".partial") for name in os.listdir(tmp_path)):
        assert process.poll() is None, "finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # let it write a few chunks
    return process


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_leaves_no_partial_file(cli_env, tmp_path, sig):
    with start_scoring(cli_env, tmp_path) as process:
        process.send_signal(sig)
        assert process.wait(timeout=30) != 0
    assert sorted(os.listdir(tmp_path)) == ["big.csv", "out.csv"]
    assert (tmp_path / "out.csv").read_text() == "older result\n"


def test_a_killed_run_leaves_the_older_output_untouched(cli_env, tmp_path):
    with start_scoring(cli_env, tmp_path) as process:
        process.kill()
        process.wait(timeout=30)
    assert (tmp_path / "out.csv").read_text() == "older result\n"
    # SIGKILL cannot be caught: only the hidden .partial file remains, never a half output.
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith(".")) == [
        "big.csv",
        "out.csv",
    ]


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("signals are tested on Linux")
