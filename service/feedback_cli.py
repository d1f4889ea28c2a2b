"""`stance feedback list|export`: read the users' corrections from the command line."""

import json
import sqlite3
from pathlib import Path

import click

from training.feedback import DEFAULT_DB, FeedbackStore

# Keeps each record on one line; --json and export give the whole text.
TEXT_PREVIEW_CHARS = 60

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    envvar="STANCE_FEEDBACK_DB",
    show_envvar=True,
    help="The feedback database the service writes (FEEDBACK_DB).",
)


@click.group()
def feedback() -> None:
    """List or export the corrections users sent to POST /v1/feedback."""


@feedback.command("list")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Show only the newest N corrections."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the records.")
@db_option
def list_feedback(limit: int | None, as_json: bool, db_path: Path) -> None:
    """Print stored corrections, newest first."""
    try:
        with FeedbackStore(db_path) as store:
            records = store.list(limit=limit)
    except sqlite3.Error as error:
        raise click.ClickException(f"cannot read {db_path}: {error}") from None
    if as_json:
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
        return
    for record in records:
        text = " ".join(record["text"].split())
        if len(text) > TEXT_PREVIEW_CHARS:
            text = text[: TEXT_PREVIEW_CHARS - 1] + "…"
        note = f"  ({' '.join(record['note'].split())})" if record["note"] else ""
        click.echo(
            f"{record['id']:>6}  {record['created_at']}  {record['label']:<13}"
            f"{record['model_version'] or '-'}  {text}{note}"
        )
    click.echo(f"{len(records)} correction(s) in {db_path}", err=True)


@feedback.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The CSV file to write (text,label,note,model_version,created_at).",
)
@db_option
def export_feedback(output: Path, db_path: Path) -> None:
    """Write every correction, oldest first, to a CSV file that appears only once complete."""
    try:
        with FeedbackStore(db_path) as store:
            count = store.export_csv(output)
    except sqlite3.Error as error:
        raise click.ClickException(f"cannot read {db_path}: {error}") from None
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from None
    click.echo(f"exported {count} correction(s) to {output}", err=True)
