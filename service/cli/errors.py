"""One translation of what a command can meet into one line on stderr and an exit code.

Bad input exits 2; a model that cannot be used, an unreadable database and a failing
environment (a read-only folder, a full disk) exit 1. Never a traceback.
"""

import contextlib
import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click


class InputError(click.ClickException):
    """Bad input from the user: one line on stderr, exit code 2."""

    exit_code = 2


def one_line(error: Exception) -> click.ClickException | None:
    """Return the one-line error that error becomes, or None when it is not ours to word."""
    if isinstance(error, click.exceptions.Exit | click.ClickException | click.Abort):
        return None  # click's own (--help ends with Exit): worded already, and no import
    # Imported here: the CLI starts without them, and an error of theirs means they are loaded.
    from model import ArtifactError
    from service.batch import ScoreError
    from service.timeline import TimelineError
    from training.data import DataError

    if isinstance(error, ScoreError | TimelineError):
        return InputError(str(error))
    if isinstance(error, DataError):
        return InputError("; ".join(error.problems))
    if isinstance(error, ArtifactError):
        return click.ClickException(str(error))
    if isinstance(error, OSError) and error.errno != errno.EPIPE:
        # EPIPE is left to click, which exits quietly when the reader of stdout has gone.
        where = f"{error.filename}: " if error.filename else ""
        return click.ClickException(f"{where}{error.strerror or error}")
    return None


class StanceGroup(click.Group):
    """A group whose commands' errors become one line (see one_line)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            translated = one_line(error)
            if translated is None:
                raise
            raise translated from None


@contextlib.contextmanager
def reading(database: Path) -> Iterator[None]:
    """Name database in the one line an SQLite error becomes."""
    try:
        yield
    except sqlite3.Error as error:
        raise click.ClickException(f"cannot read {database}: {error}") from None


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Name path in the one line a failed write becomes."""
    try:
        yield
    except OSError as error:
        raise click.ClickException(f"cannot write {path}: {error.strerror or error}") from None
