"""Batch scoring of real CSV files: every row and column kept, errors clean, output atomic."""

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import LABELS
from model.atomic import file_mode
from service import batch
from service.batch import (
    OUTPUT_COLUMNS,
    Columns,
    ScoreError,
    _Blocks,
    _lines,
    _NotUtf8,
    _Position,
    _read_csv,
    csv_rows,
    frame_columns,
    score_file,
)

from ..helpers import STANCE

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
    summary = score_file(predictor, source, tmp_path / "out.csv", chunk_rows=3)
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
    score_file(predictor, source, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == file_mode()
    assert file_mode() & 0o044  # readable by others under the usual umask, unlike mkstemp's 0600


def test_chunk_size_does_not_change_the_result(predictor, write_csv, tmp_path):
    source = write_csv("in.csv", TRICKY_ROWS)
    score_file(predictor, source, tmp_path / "one.csv", chunk_rows=1)
    score_file(predictor, source, tmp_path / "all.csv", chunk_rows=1000)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "all.csv").read_bytes()


def test_batch_scores_match_single_predictions(predictor, write_csv, tmp_path):
    texts = ["We condemn the attack.", "Talks resume Monday.", "We thank Norway for its help."]
    source = write_csv("in.csv", [["text"], *[[t] for t in texts]])
    score_file(predictor, source, tmp_path / "out.csv")
    out = read_all(tmp_path / "out.csv")
    assert out["label"].tolist() == [p.label for p in predictor.predict(texts)]


def test_header_only_file_gives_header_only_output(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n")
    summary = score_file(predictor, source, tmp_path / "out.csv")
    assert summary.rows == 0
    assert (tmp_path / "out.csv").read_text().splitlines() == [
        ",".join(["id", "text", *OUTPUT_COLUMNS])
    ]


def assert_refused(predictor, folder, name: str, content: str, message: str) -> None:
    """Scoring folder/name holding content fails with message and writes nothing."""
    source = folder / name
    source.write_text(content)
    with pytest.raises(ScoreError, match=re.escape(message)):
        score_file(predictor, source, folder / f"out{source.suffix}")
    assert os.listdir(folder) == [name]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,body\n1,hello\n", "no column 'text' in the input; its columns are: id, body"),
        ("text,label,pred_label\nhello,x,y\n", "already has output column(s) pred_label"),
        ("", "empty file"),
        ('text\n"unterminated\n', "not a readable CSV"),
        ("text\nok\nbad,row,here\n", "in.csv row 3: 3 field(s), but the header has 1"),
        # pandas used to shift these fields into an index and score the rows as empty
        ("id,text\n1,a,extra\n", "in.csv row 2: 3 field(s), but the header has 2"),
        ("id,text\n1,a\n2\n", "in.csv row 3: 1 field(s), but the header has 2"),
        ('id,text\n1,"two\nlines"\n2\n', "in.csv row 3 (line 4): 1 field(s)"),
        # pandas used to rename the second one text.1
        ("text,text\na,b\n", "in.csv: the column name(s) 'text' appear twice"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(predictor, tmp_path, content, message):
    assert_refused(predictor, tmp_path, "in.csv", content, message)


def test_undecodable_file_fails_cleanly(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"text\n" + "caf\xe9 talks\n".encode("latin-1"))
    with pytest.raises(ScoreError, match="not UTF-8"):
        score_file(predictor, source, tmp_path / "out.csv")
    assert os.listdir(tmp_path) == ["in.csv"]


# Lines are decoded a block at a time: in the first block, or deep in a later one.
@pytest.mark.parametrize("read_bytes", [1000, 1 << 20])
def test_a_bad_byte_deep_in_a_file_is_named_by_row_and_file_offset(
    predictor, tmp_path, monkeypatch, read_bytes
):
    monkeypatch.setattr(_Blocks, "READ_BYTES", read_bytes)
    head = "id,text\n" + "".join(f'{i},"Talks resume\non day {i}."\n' for i in range(30_000))
    source = tmp_path / "in.csv"
    source.write_bytes(head.encode() + b"30000,caf\xe9\n")
    offset = len(head.encode()) + len("30000,caf")
    # Row 30,002 (the header is row 1) starts on line 60,002: each earlier row spans two lines.
    message = f"row 30002 (line 60002): not UTF-8 text (invalid continuation byte at byte {offset}"
    with pytest.raises(ScoreError, match=re.escape(message)):
        score_file(predictor, source, tmp_path / "out.csv", chunk_rows=1000)
    assert os.listdir(tmp_path) == ["in.csv"]


def test_failure_midway_leaves_an_older_output_untouched(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "Talks resume.\n" * 10 + "a,b\n")
    (tmp_path / "out.csv").write_text("older result\n")
    with pytest.raises(ScoreError, match="row 12: 2 field"):
        score_file(predictor, source, tmp_path / "out.csv", chunk_rows=2)
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
    summary = score_file(predictor, tmp_path / "big.csv", tmp_path / "out.csv")
    assert summary.rows == 100_000 and summary.empty == 25_000
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert len(out) == 100_000
    assert out["id"].tolist() == [str(i) for i in range(100_000)]
    assert summary.counts == out.loc[out["label"] != "", "label"].value_counts().to_dict()


def partials(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".partial"))


def wait_until_writing(process: subprocess.Popen, folder) -> None:
    deadline = time.monotonic() + 60
    while not partials(folder):
        assert process.poll() is None, "finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # let it write a few chunks


def start_scoring(cli_env, tmp_path, jobs: int = 1, **popen) -> subprocess.Popen:
    """Start `stance score` on a large file over an older output; return once it is writing."""
    write_big_csv(tmp_path / "big.csv", 200_000)
    (tmp_path / "out.csv").write_text("older result\n")
    command = [*STANCE, "score", "big.csv", "-o", "out.csv", "--chunk-rows", "500", "-j", str(jobs)]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=cli_env, stderr=subprocess.DEVNULL, **popen
    )
    wait_until_writing(process, tmp_path)
    return process


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(child) for child in handle.read().split()]


def sigint_ignored(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as handle:
        ignored = int(next(li for li in handle if li.startswith("SigIgn:")).split()[1], 16)
    return bool(ignored & (1 << (signal.SIGINT - 1)))


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1].startswith("Z")  # exited, not yet reaped
    except FileNotFoundError:
        return True


def wait_until_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while not all(map(gone, pids)):
        assert time.monotonic() < deadline, "worker processes outlived the run"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_leaves_no_partial_file(cli_env, tmp_path, sig, jobs):
    with start_scoring(cli_env, tmp_path, jobs) as process:
        workers = children(process.pid)
        assert len(workers) == (jobs if jobs > 1 else 0)
        process.send_signal(sig)
        assert process.wait(timeout=30) != 0
    wait_until_gone(workers)
    assert sorted(os.listdir(tmp_path)) == ["big.csv", "out.csv"]
    assert (tmp_path / "out.csv").read_text() == "older result\n"


@pytest.mark.slow
def test_sigint_stops_a_run_started_in_the_background_by_a_script(cli_env, tmp_path):
    # A non-interactive shell starts `cmd &` with SIGINT ignored, and the child inherits that.
    write_big_csv(tmp_path / "big.csv", 200_000)
    (tmp_path / "out.csv").write_text("older result\n")
    command = " ".join([*map(str, STANCE), "score big.csv -o out.csv --chunk-rows 500 -j 2"])
    script = f"{command} 2>/dev/null & echo $!; wait $!; echo $?"
    with subprocess.Popen(
        ["bash", "-c", script], cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, text=True
    ) as shell:
        pid = int(shell.stdout.readline())
        # bash prints $! as soon as it forks: the child ignores SIGINT a moment later, and
        # stance resets it about a second after that, once its imports are done.
        deadline = time.monotonic() + 1
        while not sigint_ignored(pid):
            assert time.monotonic() < deadline, "bash did not start it with SIGINT ignored"
            time.sleep(0.001)
        wait_until_writing(shell, tmp_path)
        workers = children(pid)
        os.kill(pid, signal.SIGINT)
        assert int(shell.stdout.readline()) != 0
        shell.wait(timeout=30)
    wait_until_gone(workers)
    assert sorted(os.listdir(tmp_path)) == ["big.csv", "out.csv"]
    assert (tmp_path / "out.csv").read_text() == "older result\n"


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_killed_run_leaves_the_older_output_and_the_next_run_cleans_up(cli_env, tmp_path, jobs):
    with start_scoring(cli_env, tmp_path, jobs) as process:
        workers = children(process.pid)
        process.kill()
        process.wait(timeout=30)
    wait_until_gone(workers)  # they die with the parent
    assert (tmp_path / "out.csv").read_text() == "older result\n"
    # SIGKILL cannot be caught: only the hidden .partial file remains, never a half output.
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith(".")) == [
        "big.csv",
        "out.csv",
    ]
    assert len(partials(tmp_path)) == 1
    (tmp_path / "small.csv").write_text("text\nTalks resume Monday.\n")
    subprocess.run(
        [*STANCE, "score", "small.csv", "-o", "out.csv"], cwd=tmp_path, env=cli_env, check=True
    )
    assert partials(tmp_path) == []
    assert "neutral" in (tmp_path / "out.csv").read_text()


@pytest.mark.slow
def test_the_next_run_leaves_a_live_runs_partial_file_alone(cli_env, tmp_path):
    with start_scoring(cli_env, tmp_path) as running:
        live = partials(tmp_path)
        (tmp_path / "small.csv").write_text("text\nTalks resume Monday.\n")
        subprocess.run(
            [*STANCE, "score", "small.csv", "-o", "out.csv"], cwd=tmp_path, env=cli_env, check=True
        )
        assert set(live) <= set(partials(tmp_path))
        assert running.poll() is None
        running.terminate()
        running.wait(timeout=30)


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("signals are tested on Linux")


def test_every_jobs_count_and_chunk_size_gives_the_same_bytes(predictor, write_csv, tmp_path):
    source = write_csv("in.csv", TRICKY_ROWS * 50)  # repeated headers are rows like any other
    score_file(predictor, source, tmp_path / "one.csv", chunk_rows=1000, jobs=1)
    for jobs, chunk_rows in [(2, 1), (2, 7), (3, 100)]:
        out = tmp_path / f"{jobs}-{chunk_rows}.csv"
        summary = score_file(predictor, source, out, chunk_rows=chunk_rows, jobs=jobs)
        assert out.read_bytes() == (tmp_path / "one.csv").read_bytes()
        assert summary.rows == len(TRICKY_ROWS) * 50 - 1


def test_bad_input_midway_with_workers_fails_cleanly_naming_the_row(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "Talks resume.\n" * 1000 + "a,b\n" + "More talks.\n" * 1000)
    (tmp_path / "out.csv").write_text("older result\n")
    with pytest.raises(ScoreError, match="row 1002: 2 field"):
        score_file(predictor, source, tmp_path / "out.csv", chunk_rows=10, jobs=2)
    assert (tmp_path / "out.csv").read_text() == "older result\n"
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "out.csv"]


def test_formats_round_trip_with_every_field_a_string(predictor, write_csv, tmp_path):
    source = write_csv("in.csv", TRICKY_ROWS)
    score_file(predictor, source, tmp_path / "out.csv")
    expected = read_all(tmp_path / "out.csv")
    for name in ["out.jsonl", "out.parquet"]:
        score_file(predictor, source, tmp_path / name, jobs=2, chunk_rows=3)
    from_jsonl = pd.read_json(tmp_path / "out.jsonl", lines=True, dtype=False)
    from_parquet = pd.read_parquet(tmp_path / "out.parquet")
    for frame in (from_jsonl, from_parquet):
        assert list(frame.columns) == list(expected.columns)
        assert frame["id"].tolist() == expected["id"].tolist()  # "1", not 1
        assert frame["text"].tolist() == expected["text"].tolist()  # "NA", "None" kept
        assert frame["label"].tolist() == expected["label"].tolist()
        assert frame["p_warning"].isna().sum() == 2  # the empty rows: null, not a made-up class
        scored = frame["label"] != ""
        assert (
            frame.loc[scored, "p_warning"].round(6)
            == expected.loc[scored, "p_warning"].astype(float)
        ).all()
    # Parquet and JSON Lines read back in give the same scores as the CSV.
    originals = read_all(source)
    originals.to_parquet(tmp_path / "in.parquet")
    originals.to_json(tmp_path / "in.jsonl", orient="records", lines=True, force_ascii=False)
    for name in ["in.parquet", "in.jsonl"]:
        score_file(predictor, tmp_path / name, tmp_path / f"again-{name}.csv")
        assert (tmp_path / f"again-{name}.csv").read_bytes() == (tmp_path / "out.csv").read_bytes()


def test_typed_parquet_and_json_values_are_read_as_their_text(predictor, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": [1, 2], "score": [1.5, None], "text": ["We condemn it.", None]})
    pq.write_table(table, tmp_path / "in.parquet")
    score_file(predictor, tmp_path / "in.parquet", tmp_path / "out.csv")
    out = read_all(tmp_path / "out.csv")
    assert out[["id", "score", "text"]].values.tolist() == [
        ["1", "1.5", "We condemn it."],
        ["2", "", ""],
    ]
    (tmp_path / "in.jsonl").write_text(
        '{"id": 007, "n": 1.50, "ok": true, "text": "We condemn it."}\n'.replace("007", "7")
        + '{"text": null, "id": 8, "n": 1e3, "ok": false}\n\n'
    )
    score_file(predictor, tmp_path / "in.jsonl", tmp_path / "out2.csv")
    out = read_all(tmp_path / "out2.csv")
    assert out[["id", "n", "ok", "text"]].values.tolist() == [
        ["7", "1.50", "true", "We condemn it."],
        ["8", "1e3", "false", ""],
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a"}\n{"text": "b", "id": 1}\n', "in.jsonl line 2: its keys (text, id)"),
        ('{"text": "a", "text": "b"}\n', "in.jsonl line 1: a key appears twice"),
        ('{"text": "a"}\n{"text": \n', "in.jsonl line 2: not JSON"),
        ('["a"]\n', "in.jsonl line 1: expected a JSON object"),
        ('{"text": {"a": 1}}\n', "in.jsonl line 1: 'text' is a nested JSON value"),
        ("", "in.jsonl: empty file"),
    ],
)
def test_bad_json_lines_fail_cleanly(predictor, tmp_path, content, message):
    assert_refused(predictor, tmp_path, "in.jsonl", content, message)


def test_a_file_that_is_not_parquet_fails_cleanly(predictor, tmp_path):
    (tmp_path / "in.parquet").write_text("text\nhello\n")
    with pytest.raises(ScoreError, match="not a readable Parquet file"):
        score_file(predictor, tmp_path / "in.parquet", tmp_path / "out.csv")


def test_format_option_overrides_the_extension_for_stdin_and_stdout(cli_env, tmp_path):
    completed = subprocess.run(
        [*STANCE, "score", "-", "-o", "-", "--format", "jsonl", "-j", "2"],
        input='{"text": "We condemn the attack."}\n{"text": ""}\n',
        capture_output=True,
        text=True,
        env=cli_env,
        check=True,
    )
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [line["label"] for line in lines] == ["warning", ""]
    assert lines[1]["confidence"] is None


@pytest.mark.slow
def test_the_progress_bar_has_a_total_and_an_eta_on_a_terminal(cli_env, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    from tqdm import tqdm

    # tqdm redraws at most every 0.1 s, and shows a time left only from its second drawing:
    # the run must last several tenths of a second however fast scoring gets.
    write_big_csv(tmp_path / "big.csv", 100_000)
    leader, follower = pty.openpty()
    # A new pty is 0 columns wide, where tqdm draws nothing; a terminal has a size.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    completed = subprocess.run(
        [*STANCE, "score", "big.csv", "-o", "out.csv", "--chunk-rows", "1000", "-j", "2"],
        cwd=tmp_path,
        env=cli_env,
        stderr=follower,
        timeout=300,
    )
    os.close(follower)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once everything written has been read
        while chunk := os.read(leader, 65536):
            shown += chunk
    os.close(leader)
    assert completed.returncode == 0
    size = (tmp_path / "big.csv").stat().st_size
    assert re.search(rb"\d+%\|", shown), shown[-500:]
    assert f"/{tqdm.format_sizeof(size)}".encode() in shown, shown[-500:]  # the total, in bytes
    assert re.search(rb"<\d\d:\d\d", shown)  # the estimated time left
    assert b"scored 100000 rows" in shown


def test_csv_rows_are_the_bytes_pandas_writes():
    frame = pd.DataFrame(
        {"id": ["1", "2", "3", ""], "text": ['say "no", twice', "line\nbreak", "", " ,; "]},
        dtype=str,
    )
    frame["label"] = ["warning", "neutral", "", "conciliatory"]
    for i, column in enumerate(OUTPUT_COLUMNS[1:]):
        frame[column] = [0.5, 1 / 3 + i, float("nan"), 1e-7]
    frame["speaker"] = ["USA", "", "CHN", "RUS"]  # --actors adds text columns after the numbers
    expected = frame.to_csv(index=False, header=False, float_format="%.6f")
    assert csv_rows(frame_columns(frame)) == expected


# The fast paths of reading and writing CSV, against the plain ones they replace.


def reference_rows(columns: list) -> str:
    """csv_rows as it was: an f-string per number and csv.writer on every field."""
    fields = [
        ["" if math.isnan(v) else f"{v:.6f}" for v in values.tolist()]
        if isinstance(values, np.ndarray) and values.dtype.kind == "f"
        else values
        for values in columns
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(zip(*fields, strict=True))
    return out.getvalue()


EDGES = [0.0, -0.0, 1.0, 0.5e-6, 1.5e-6, 2.5e-6, 0.0078125, 1 / 3, 0.9999995, 1 - 1e-17]
numbers = st.floats(0, 1) | st.sampled_from(
    [*EDGES, float("nan"), math.inf, -math.inf, -1e-9, 1 + 2**-52, 2.5]
)
fields = st.text(alphabet=st.sampled_from('ab ,"\r\n\x00é€😀'), max_size=8)


@settings(max_examples=300)
@given(st.lists(st.lists(numbers, min_size=4, max_size=4), min_size=1, max_size=20))
def test_numbers_are_written_as_f_strings_write_them(rows):
    columns = list(np.array(rows).T)
    assert csv_rows(Columns(list("abcd"), columns)) == reference_rows(columns)


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from(["text", "number"]), min_size=1, max_size=5),
    st.lists(st.tuples(fields, numbers), min_size=1, max_size=10),
)
def test_csv_rows_quote_as_csv_writer_does_in_any_layout(kinds, values):
    columns = [
        np.array([v for _, v in values]) if kind == "number" else [t for t, _ in values]
        for kind in kinds
    ]
    assert csv_rows(Columns(list(range(len(kinds))), columns)) == reference_rows(columns)


def test_text_columns_of_other_types_are_written_as_csv_writer_writes_them():
    columns = [["a", None, 1.5], np.array(["x", "", None], dtype=object), np.array([0.5] * 3)]
    assert csv_rows(Columns(list("abc"), columns)) == reference_rows(columns)


def decoded_by_lines(data: bytes) -> tuple[list[str], list[int], tuple | None]:
    """The lines, their end offsets and the error, as _lines gives them."""
    position, texts, ends = _Position("B"), [], []
    try:
        for text in _lines(io.BytesIO(data), position):
            texts.append(text)
            ends.append(position.done)
    except _NotUtf8 as error:
        return texts, ends, (error.offset, error.line, error.reason)
    return texts, ends, None


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\xef\xbb\xbf", b"\xc3\xa9", b"\xe9", b","])),
    st.integers(1, 12),
)
def test_blocks_decode_as_lines_do(pieces, read_bytes):
    data = b"".join(pieces)
    blocks = _Blocks(io.BytesIO(data))
    blocks.READ_BYTES = read_bytes
    texts, ends, error = [], [], None
    try:
        for text in blocks:
            texts.append(text)
            ends.append(blocks.done())
    except _NotUtf8 as raised:
        error = (raised.offset, raised.line, raised.reason)
    assert (texts, ends, error) == decoded_by_lines(data)


@pytest.mark.parametrize("read_bytes", [1, 7, 64, 1 << 20])
def test_each_chunk_reports_the_bytes_read_through_its_last_row(read_bytes, monkeypatch):
    monkeypatch.setattr(_Blocks, "READ_BYTES", read_bytes)
    data = '\ufeffid,text\n1,"two\nlines"\n\n2,café\r\n3,"a ""b"""\n4,\n'.encode()
    position = _Position("B")
    seen = [
        (len(chunk), position.done) for chunk in _read_csv(io.BytesIO(data), "in.csv", 2, position)
    ]
    # Each chunk ends with the line of its last row: "2,café", then the end of the file.
    assert seen == [(2, data.index(b"3,")), (2, len(data))]


def scored_or_refused(predictor, source, out, chunk_rows: int) -> tuple[str, bytes | str]:
    try:
        score_file(predictor, source, out, chunk_rows=chunk_rows, jobs=1)
    except ScoreError as error:
        return "refused", str(error)
    return "scored", out.read_bytes()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [b"a", b"Talks", b" ", b",", b'"', b'""', b"\n", b"\r\n", b"\r", b"\xc3\xa9", b"\xe9"]
        ),
        max_size=40,
    ),
    st.integers(1, 3),
)
def test_a_csv_cut_into_pieces_reads_as_the_whole_file(predictor, body, rows):
    # The main process cuts a CSV where service/_records.c finds a record's end, and the
    # workers parse the pieces: the rows, and any error's row, line and byte, are those of
    # the csv module reading the whole file in the main process.
    if batch.RECORDS is None:
        pytest.skip("service._records is not built (no C compiler)")
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        source, out = Path(folder) / "in.csv", Path(folder) / "out.csv"
        source.write_bytes(b"id,text\n" + b"".join(body))
        pieces = scored_or_refused(predictor, source, out, rows)
        patch.setattr(batch, "RECORDS", None)
        out.unlink(missing_ok=True)
        assert scored_or_refused(predictor, source, out, rows) == pieces


def test_the_record_scanner_finds_the_ends_the_csv_module_finds():
    if batch.RECORDS is None:
        pytest.skip("service._records is not built (no C compiler)")
    data = b'a,"b\nc"\n\nd,"e""\n"\r\nf,g\n"h"'
    ends, counts, end = [], [], 0
    while end < len(data):
        end, found, _ = batch.RECORDS.scan(data, end, 1, 0)
        ends.append(end)
        counts.append(found)
    assert counts == [1, 1, 1, 1, 0]  # the last record has no newline to end it
    lines = list(io.BytesIO(data))
    reader = csv.reader((line.decode() for line in lines), strict=True)
    by_csv = [sum(map(len, lines[: reader.line_num])) for _ in reader]
    assert ends == by_csv  # the blank line is a record of its own to both
    assert batch.RECORDS.scan(data, 0, 10, 0) == (len(data), 4, 3)  # inside "h": a quoted field
    for wrong in ((data, -1, 1, 0), (data, 0, 0, 0), (data, 0, 1, 9), (data, 99, 1, 0)):
        with pytest.raises(ValueError):
            batch.RECORDS.scan(*wrong)


def rows_by_csv(data: bytes, width: int) -> list[list[str]] | None:
    """The columns csv.reader(strict=True) reads from data's lines, blank lines skipped, or
    None where it raises or a row is not width fields."""
    try:
        rows = [r for r in csv.reader((x.decode() for x in io.BytesIO(data)), strict=True) if r]
    except (csv.Error, UnicodeDecodeError):
        return None
    if any(len(row) != width for row in rows):
        return None
    return [[row[i] for row in rows] for i in range(width)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"a",
                b"Talks",
                b" ",
                b",",
                b'"',
                b'""',
                b"\n",
                b"\r\n",
                b"\r",
                b"\xc3\xa9",
                b"\xe9",
                b"\0",
            ]
        ),
        max_size=30,
    ),
    st.integers(1, 3),
)
def test_the_record_parser_reads_what_the_csv_module_reads_or_leaves_it_to_it(body, width):
    # The workers parse a piece's records in C (service/_records.c) and hand anything else to
    # the csv module, which names the problem: what C reads must be what the module reads.
    if batch.RECORDS is None:
        pytest.skip("service._records is not built (no C compiler)")
    data = b"".join(body)
    parsed = batch.RECORDS.fields(data, width)
    if parsed is not None:
        assert parsed == rows_by_csv(data, width)


def test_the_record_parser_reads_common_records_itself():
    if batch.RECORDS is None:
        pytest.skip("service._records is not built (no C compiler)")
    data = b'1,"Talks, at last"\r\n\n2,"He said ""no"""\n3,caf\xc3\xa9\n4,\n5,"two\nlines"'
    assert batch.RECORDS.fields(data, 2) == rows_by_csv(data, 2)
    assert batch.RECORDS.fields(data, 2)[1] == [
        "Talks, at last",
        'He said "no"',
        "café",
        "",
        "two\nlines",
    ]
    for not_simple in (b"1,a,b\n", b'1,"a"b\n', b"1,a\rb\n", b"1,\xe9\n", b'1,"open\n', b"1,\0\n"):
        assert batch.RECORDS.fields(not_simple, 2) is None
    with pytest.raises(ValueError):
        batch.RECORDS.fields(data, 0)


def test_the_record_scanner_is_built_where_there_is_a_c_compiler():
    # setup.py builds it optionally: without a compiler the main process parses every row.
    if shutil.which(sysconfig.get_config_var("CC").split()[0]) is None:
        pytest.skip("no C compiler here")
    assert batch.RECORDS is not None
