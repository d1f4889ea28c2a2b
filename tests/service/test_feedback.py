"""Feedback: the SQLite store, POST /v1/feedback, `stance feedback`, and concurrent writers."""

import csv
import json
import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest

from model import LABELS
from model.feedback_store import MAX_NOTE_CHARS, MAX_TEXT_CHARS, FeedbackStore
from service.app import create_app
from service.cli.feedback import feedback as feedback_command
from service.feedback import feedback as feedback_blueprint
from training.data import problems_in, read_feedback

from ..helpers import ROOT, WARNING, assert_problem

TALKS = "Both sides agreed to meet again next month."


def feedback_app(test_config: dict):
    """Return an app with the feedback blueprint, registered here until create_app does it."""
    app = create_app({"TESTING": True, **test_config})
    if "feedback" not in app.blueprints:
        app.register_blueprint(feedback_blueprint)
    return app


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "feedback.sqlite3"


@pytest.fixture
def store(db_path):
    with FeedbackStore(db_path) as store:
        yield store


@pytest.fixture
def feedback_client(model_dir, db_path):
    app = feedback_app({"MODEL_DIR": str(model_dir), "FEEDBACK_DB": str(db_path)})
    yield app.test_client()
    app.extensions["stance_feedback"].close()


def rows_in(db_path) -> list[tuple]:
    """Read the table with plain sqlite3, not through the code under test; no file, no rows."""
    if not db_path.exists():
        return []
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT id, text, label, note, model_version FROM feedback")
        result = rows.fetchall()
    connection.close()
    return result


def assert_utc_iso(stamp: str) -> None:
    assert datetime.fromisoformat(stamp).utcoffset() == UTC.utcoffset(None)


# The endpoint


def test_a_correction_is_stored_and_answered_201(feedback_client, predictor, db_path):
    body = {"text": WARNING, "label": "neutral", "note": "a routine statement"}
    response = feedback_client.post("/v1/feedback", json=body)
    assert response.status_code == 201
    record = response.get_json()
    assert set(record) == {"id", "created_at", "model_version", "text", "label", "note"}
    assert record["model_version"] == predictor.version
    assert {k: record[k] for k in body} == body
    assert_utc_iso(record["created_at"])
    assert rows_in(db_path) == [
        (record["id"], WARNING, "neutral", "a routine statement", predictor.version)
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"text": TALKS, "label": "conciliatory"},
        {"text": TALKS, "label": "conciliatory", "note": None},
    ],
)
def test_the_note_is_optional(feedback_client, db_path, body):
    response = feedback_client.post("/v1/feedback", json=body)
    assert response.status_code == 201
    assert response.get_json()["note"] is None
    assert [row[3] for row in rows_in(db_path)] == [None]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"text": WARNING, "label": "hostile"}, ["label", "'hostile'", "conciliatory"]),
        ({"text": WARNING, "label": "Warning"}, ["label", "'Warning'"]),
        ({"text": "", "label": "warning"}, ["text is empty"]),
        ({"text": "  \n ", "label": "warning"}, ["text is empty"]),
        ({"label": "warning"}, ['"text" is missing']),
        ({"text": WARNING}, ['"label" is missing']),
        ({}, ['"text" is missing']),
        ({"text": 3, "label": "warning"}, ['"text" must be a string', "number"]),
        ({"text": [WARNING], "label": "warning"}, ['"text" must be a string', "array"]),
        ({"text": WARNING, "label": None}, ['"label" must be a string', "null"]),
        ({"text": WARNING, "label": ["warning"]}, ['"label" must be a string', "array"]),
        ({"text": WARNING, "label": "warning", "note": 5}, ['"note" must be a string', "number"]),
        ({"text": WARNING, "label": "warning", "note": {}}, ['"note" must be a string', "object"]),
        (
            {"text": WARNING, "label": "warning", "note": "n" * (MAX_NOTE_CHARS + 1)},
            ["note has 1001 characters", "at most 1000"],
        ),
        (
            {"text": "t" * (MAX_TEXT_CHARS + 1), "label": "warning"},
            ["text has 10001 characters", "at most 10000"],
        ),
        ({"text": WARNING, "label": "warning", "notes": "typo"}, ['Unknown field "notes"']),
        ([WARNING, "warning"], ["JSON object", "array"]),
    ],
)
def test_bad_fields_are_422_naming_the_field(feedback_client, db_path, body, words):
    assert_problem(feedback_client.post("/v1/feedback", json=body), 422, *words)
    assert rows_in(db_path) == []


def test_the_limits_themselves_are_accepted(feedback_client, db_path):
    body = {"text": "t" * MAX_TEXT_CHARS, "label": "warning", "note": "n" * MAX_NOTE_CHARS}
    assert feedback_client.post("/v1/feedback", json=body).status_code == 201
    assert len(rows_in(db_path)) == 1


def test_a_body_that_is_not_json_is_refused(feedback_client, db_path):
    text_plain = feedback_client.post("/v1/feedback", data="text=hi", content_type="text/plain")
    assert_problem(text_plain, 415, "application/json")
    broken = feedback_client.post(
        "/v1/feedback", data='{"text": "hi", ', content_type="application/json"
    )
    assert_problem(broken, 400, "not valid JSON")
    assert_problem(feedback_client.get("/v1/feedback"), 405)
    assert rows_in(db_path) == []


def test_no_feedback_without_a_loaded_model(tmp_path, db_path):
    app = feedback_app({"MODEL_DIR": str(tmp_path / "no-models"), "FEEDBACK_DB": str(db_path)})
    response = app.test_client().post("/v1/feedback", json={"text": TALKS, "label": "neutral"})
    assert_problem(response, 503, "No model")
    assert not db_path.exists()


def test_an_unusable_database_is_503_without_internals(model_dir, tmp_path):
    missing_folder = tmp_path / "not-a-folder" / "feedback.sqlite3"
    app = feedback_app({"MODEL_DIR": str(model_dir), "FEEDBACK_DB": str(missing_folder)})
    response = app.test_client().post("/v1/feedback", json={"text": TALKS, "label": "neutral"})
    body = assert_problem(response, 503, "feedback store")
    assert "not-a-folder" not in body["detail"]


def test_the_database_path_comes_from_the_environment(model_dir, tmp_path, monkeypatch):
    configured = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("STANCE_FEEDBACK_DB", str(configured))
    app = feedback_app({"MODEL_DIR": str(model_dir)})
    response = app.test_client().post("/v1/feedback", json={"text": TALKS, "label": "neutral"})
    assert response.status_code == 201
    app.extensions["stance_feedback"].close()
    assert [row[1] for row in rows_in(configured)] == [TALKS]


# The store


def test_round_trip_newest_first(store, db_path):
    first = store.add(WARNING, "warning", model_version="v1")
    second = store.add(TALKS, "conciliatory", note="clearly positive", model_version="v2")
    assert second["id"] > first["id"]
    assert store.list() == [second, first]
    assert store.list(limit=1) == [second]
    assert store.list(limit=0) == []
    assert_utc_iso(first["created_at"])
    with FeedbackStore(db_path) as reopened:
        assert reopened.list() == [second, first]


def test_the_file_uses_wal_and_survives_close(store, db_path):
    store.add(WARNING, "warning")
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()
    store.close()
    store.add(TALKS, "neutral")
    assert len(store.list()) == 2


def test_a_blank_note_is_stored_as_none(store):
    assert store.add(WARNING, "warning", note="  ")["note"] is None


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"text": WARNING, "label": "angry"}, ["label", "'angry'"]),
        ({"text": "", "label": "neutral"}, ["text is empty"]),
        ({"text": "\t", "label": "neutral"}, ["text is empty"]),
        ({"text": None, "label": "neutral"}, ["text must be a string"]),
        ({"text": "x" * 10_001, "label": "neutral"}, ["10001", "10000"]),
        ({"text": WARNING, "label": "neutral", "note": "x" * 1_001}, ["note", "1001", "1000"]),
        ({"text": WARNING, "label": "neutral", "note": 7}, ["note must be a string"]),
        ({"text": WARNING, "label": "neutral", "model_version": 1}, ["model_version"]),
    ],
)
def test_the_store_refuses_bad_corrections(store, arguments, words):
    with pytest.raises(ValueError) as caught:
        store.add(**arguments)
    for word in words:
        assert word in str(caught.value)
    assert store.list() == []


@pytest.mark.parametrize("limit", [-1, 1.5, "3", True])
def test_a_bad_limit_is_refused(store, limit):
    with pytest.raises(ValueError, match="limit"):
        store.list(limit=limit)


def test_the_training_frame_keeps_the_latest_correction_of_a_text(store, db_path):
    store.add(WARNING, "warning")
    store.add("Talks open Monday.", "conciliatory")
    store.add(TALKS, "neutral")
    store.add("talks  open MONDAY", "neutral")  # the same statement for the corpus checks
    store.add(WARNING, "neutral")
    frame = read_feedback(db_path)
    assert list(frame.columns) == ["text", "label"]
    assert frame.to_dict("records") == [
        {"text": TALKS, "label": "neutral"},
        {"text": "talks  open MONDAY", "label": "neutral"},
        {"text": WARNING, "label": "neutral"},
    ]
    assert problems_in(frame, "feedback") == []


def test_an_empty_store_gives_an_empty_frame(store, db_path):
    frame = read_feedback(db_path)
    assert frame.empty
    assert list(frame.columns) == ["text", "label"]


def test_export_writes_every_field_oldest_first(store, tmp_path):
    tricky = 'He said: "no",\nthen «oui» — 北京'
    store.add(WARNING, "warning", model_version="v1")
    store.add(tricky, "neutral", note="quotes, commas\nand lines", model_version="v2")
    destination = tmp_path / "out.csv"
    assert store.export_csv(destination) == 2
    with open(destination, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    listed = list(reversed(store.list()))
    assert [list(row) for row in rows] == [
        ["text", "label", "note", "model_version", "created_at"]
    ] * 2
    assert rows == [
        {
            "text": record["text"],
            "label": record["label"],
            "note": record["note"] or "",
            "model_version": record["model_version"],
            "created_at": record["created_at"],
        }
        for record in listed
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["feedback.sqlite3", "feedback.sqlite3-wal", "feedback.sqlite3-shm", "out.csv"]
    )


def test_a_failed_export_leaves_the_previous_export_untouched(store, db_path, tmp_path):
    store.add(WARNING, "warning")
    destination = tmp_path / "out.csv"
    store.export_csv(destination)
    before = destination.read_bytes()
    for i in range(50):
        store.add(f"statement number {i}", "neutral")
    # A row SQLite holds but Python cannot decode: the export fails after writing 51 rows.
    with sqlite3.connect(db_path) as connection:
        connection.execute(
            "INSERT INTO feedback (created_at, text, label) "
            "VALUES ('now', CAST(x'ff' AS TEXT), 'neutral')"
        )
    connection.close()
    with pytest.raises(sqlite3.OperationalError, match="decode"):
        store.export_csv(destination)
    assert destination.read_bytes() == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_threads_sharing_one_store_lose_nothing(store, db_path):
    def insert(worker: int) -> None:
        for i in range(50):
            store.add(f"thread {worker} statement {i}", LABELS[i % 3])

    threads = [threading.Thread(target=insert, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(rows_in(db_path)) == 200


# Concurrent processes: gunicorn workers writing the same file at once

WRITER = """
import sys
from model.feedback_store import FeedbackStore

store = FeedbackStore(sys.argv[1])
worker = sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()  # start together, so the inserts really interleave
for i in range(200):
    store.add(f"worker {worker} statement {i}", "neutral", model_version=f"w{worker}")
store.close()
"""


def test_four_processes_inserting_at_once_lose_no_row(db_path, tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with ExitStack() as stack:
        writers = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(db_path), str(worker)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=tmp_path,
                    env=env,
                )
            )
            for worker in range(4)
        ]
        # Runs before the Popens exit (they close pipes and wait): no writer outlives a failure.
        stack.callback(lambda: [writer.kill() for writer in writers if writer.poll() is None])
        for writer in writers:
            assert writer.stdout.readline().strip() == "ready"
        for writer in writers:
            writer.stdin.write("go\n")
            writer.stdin.close()
        assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0, 0]
    rows = rows_in(db_path)
    assert len(rows) == 800
    assert sorted(row[0] for row in rows) == list(range(1, 801))
    expected = {f"worker {w} statement {i}" for w in range(4) for i in range(200)}
    assert {row[1] for row in rows} == expected


# The command line


@pytest.fixture
def filled_db(db_path):
    with FeedbackStore(db_path) as store:
        store.add(WARNING, "warning", model_version="v1")
        store.add(TALKS + "\nSecond line.", "conciliatory", note="clear", model_version="v2")
    return db_path


def test_cli_lists_newest_first(runner, filled_db):
    result = runner.invoke(feedback_command, ["list", "--db", str(filled_db)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert "conciliatory" in lines[0] and "v2" in lines[0] and "(clear)" in lines[0]
    assert "Both sides agreed" in lines[0] and "Second line." in lines[0]
    assert "warning" in lines[1] and "Beijing warned" in lines[1]
    assert "2 correction(s)" in result.stderr


def test_cli_lists_json_with_a_limit_from_the_environment(runner, filled_db, monkeypatch):
    monkeypatch.setenv("STANCE_FEEDBACK_DB", str(filled_db))
    result = runner.invoke(feedback_command, ["list", "--json", "--limit", "1"])
    assert result.exit_code == 0, result.output
    with FeedbackStore(filled_db) as store:
        assert json.loads(result.stdout) == store.list(limit=1)


def test_cli_exports_csv(runner, filled_db, tmp_path):
    destination = tmp_path / "export.csv"
    result = runner.invoke(
        feedback_command, ["export", "--db", str(filled_db), "-o", str(destination)]
    )
    assert result.exit_code == 0, result.output
    assert f"exported 2 correction(s) to {destination}" in result.stderr
    with open(destination, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["text"], row["label"], row["note"]) for row in rows] == [
        (WARNING, "warning", ""),
        (TALKS + "\nSecond line.", "conciliatory", "clear"),
    ]


def test_cli_lists_nothing_before_the_first_correction(runner, tmp_path):
    never = tmp_path / "never.sqlite3"
    listed = runner.invoke(feedback_command, ["list", "--db", str(never)])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout == "" and "0 correction(s)" in listed.stderr
    as_json = runner.invoke(feedback_command, ["list", "--json", "--db", str(never)])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []
    assert not never.exists()  # listing makes no database


def test_cli_errors_are_one_line_not_tracebacks(runner, filled_db, tmp_path):
    missing = runner.invoke(
        feedback_command, ["export", "--db", str(tmp_path / "nope.sqlite3"), "-o", "x.csv"]
    )
    assert missing.exit_code == 2 and "does not exist" in missing.output
    no_folder = runner.invoke(
        feedback_command,
        ["export", "--db", str(filled_db), "-o", str(tmp_path / "no" / "x.csv")],
    )
    assert no_folder.exit_code == 1 and "cannot write" in no_folder.output
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("just some text, not SQLite\n" * 100)
    garbage = runner.invoke(feedback_command, ["list", "--db", str(not_a_db)])
    assert garbage.exit_code == 1 and "cannot read" in garbage.output
    for result in (missing, no_folder, garbage):
        assert "Traceback" not in result.output
