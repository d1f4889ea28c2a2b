"""The feedback store: users' corrections of the model's calls, in one SQLite file.

The service writes it (POST /v1/feedback), the CLI lists and exports it, and training reads it
(training.data.read_feedback). It lives in the model package, which both sides may import, and
needs neither Flask nor pandas.

One SQLite file, written by every gunicorn worker at once. What keeps rows from being lost:
WAL mode (readers never block the writer), a busy timeout (a writer waits for the lock instead of
failing), one short autocommit INSERT per correction, and one connection per thread and process,
because a sqlite3 connection must not cross threads or a fork. The connection is kept rather than
opened per call: opening and closing one costs 15-25 ms here (the last close checkpoints the
WAL), an INSERT on an open one well under 1 ms.
"""

import csv
import os
import sqlite3
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.atomic import atomic_file
from model.labels import LABELS, LIMITS

# Where the store lives by default is model/home.py's (feedback_db()): a checkout, or Stance's home.
MAX_TEXT_CHARS = LIMITS["max_text_chars"]
MAX_NOTE_CHARS = LIMITS["max_note_chars"]
# Seconds a writer waits for another worker's transaction; inserts take milliseconds.
BUSY_TIMEOUT = 30.0

FIELDS = ("id", "created_at", "model_version", "text", "label", "note")
EXPORT_COLUMNS = ("text", "label", "note", "model_version", "created_at")

# Validation lives in Python (check_feedback), not in CHECK constraints, so a change to the
# label list or the limits needs no migration of existing files.
SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    model_version TEXT,
    text TEXT NOT NULL,
    label TEXT NOT NULL,
    note TEXT
)
"""


class FeedbackStore:
    """Corrections in one SQLite file: add, list, export, and its size on disk."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = BUSY_TIMEOUT):
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []
        # Connections inherited through a fork: never used or closed in the child (see _connect).
        self._inherited: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._schema_ready = False

    def __enter__(self) -> "FeedbackStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this process's connections; call it when no thread is using the store."""
        with self._lock:
            opened, self._opened = self._opened, []
            self._local = threading.local()
        for connection in opened:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it (and the schema) on first use."""
        if self._pid != os.getpid():
            # Forked (gunicorn --preload): the parent's connections must not be touched here,
            # not even closed, or the two processes' locks get confused.
            with self._lock:
                self._inherited += self._opened
                self._opened = []
                self._local = threading.local()
                self._pid = os.getpid()
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                # Autocommit (isolation_level=None): each INSERT is its own short transaction.
                # check_same_thread=False only so close() may run elsewhere; threads never share.
                connection = sqlite3.connect(
                    self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
                )
            except sqlite3.OperationalError as error:
                raise sqlite3.OperationalError(f"cannot open {self.path}: {error}") from None
            with self._lock:
                self._opened.append(connection)
            self._local.connection = connection
        if not self._schema_ready:
            self._create_schema(connection)
        return connection

    def _create_schema(self, connection: sqlite3.Connection) -> None:
        # WAL is a property of the file: set once, every later connection uses it. Switching
        # needs an exclusive lock and SQLite does not wait for it (no busy handler), so when
        # several workers open a new file at once, the losers retry until the timeout.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"{self.path}: cannot switch to WAL mode ({mode})")
        connection.execute(SCHEMA)
        self._schema_ready = True

    def add(
        self, text: str, label: str, note: str | None = None, model_version: str | None = None
    ) -> dict[str, Any]:
        """Validate and store one correction; return it as stored, with its id."""
        check_feedback(text, label, note, model_version)
        if note is not None and not note.strip():
            note = None
        created_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        with closing(
            self._connect().execute(
                "INSERT INTO feedback (created_at, model_version, text, label, note) "
                "VALUES (?, ?, ?, ?, ?)",
                (created_at, model_version, text, label, note),
            )
        ) as cursor:
            row_id = cursor.lastrowid
        return {
            "id": row_id,
            "created_at": created_at,
            "model_version": model_version,
            "text": text,
            "label": label,
            "note": note,
        }

    def size_bytes(self) -> int:
        """Return the bytes the store takes on disk, with its write-ahead log."""
        files = (self.path, self.path.with_name(self.path.name + "-wal"))
        return sum(file.stat().st_size for file in files if file.exists())

    def texts_and_labels(self) -> list[tuple[str, str]]:
        """Return every correction's text and label, oldest first."""
        query = "SELECT text, label FROM feedback ORDER BY id"
        with closing(self._connect().execute(query)) as cursor:
            return cursor.fetchall()

    def list(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Return stored corrections, newest first, at most limit of them."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError(f"limit must be a whole number, not {limit!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        query = f"SELECT {', '.join(FIELDS)} FROM feedback ORDER BY id DESC"
        if limit is not None:
            query += f" LIMIT {limit:d}"
        with closing(self._connect().execute(query)) as cursor:
            rows = cursor.fetchall()
        return [dict(zip(FIELDS, row, strict=True)) for row in rows]

    def export_csv(self, path: str | os.PathLike[str]) -> int:
        """Write every correction, oldest first, as CSV at path, complete or not at all."""
        count = 0
        query = f"SELECT {', '.join(EXPORT_COLUMNS)} FROM feedback ORDER BY id"
        with atomic_file(Path(path), newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(EXPORT_COLUMNS)
            # Stream the rows: the file may be large, memory should not grow with it.
            with closing(self._connect().execute(query)) as cursor:
                for row in cursor:
                    writer.writerow(row)
                    count += 1
        return count


def check_feedback(text: Any, label: Any, note: Any, model_version: Any) -> None:
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text has {len(text)} characters; at most {MAX_TEXT_CHARS} are allowed")
    if label not in LABELS:
        raise ValueError(f"label {label!r} is not one of {', '.join(LABELS)}")
    if note is not None and not isinstance(note, str):
        raise ValueError(f"note must be a string, not {type(note).__name__}")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"note has {len(note)} characters; at most {MAX_NOTE_CHARS} are allowed")
    if model_version is not None and not isinstance(model_version, str):
        raise ValueError(f"model_version must be a string, not {type(model_version).__name__}")
