"""`stance feedback list|export`: read the users' corrections from the command line."""

import json
from pathlib import Path

import click

from model.feedback_store import FeedbackStore
from service.cli.errors import InputError, StanceGroup, reading, writing
from service.cli.options import example, feedback_db_option, json_option, output_option

# Keeps each record on one line; --json and export give the whole text.
TEXT_PREVIEW_CHARS = 60


@click.group(cls=StanceGroup, epilog=example("stance feedback list --limit 10"))
def feedback() -> None:
    """List or export the corrections users sent to POST /v1/feedback."""


@feedback.command("list", epilog=example("stance feedback list --json --limit 10"))
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Show only the newest N corrections."
)
@json_option
@feedback_db_option
def list_feedback(limit: int | None, as_json: bool, db_path: Path) -> None:
    """Print stored corrections, newest first (none yet: an empty list)."""
    records = []
    if db_path.exists():  # before the first correction there is no file, and none is made
        with reading(db_path), FeedbackStore(db_path) as store:
            records = store.list(limit=limit)
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


@feedback.command("export", epilog=example("stance feedback export -o corrections.csv"))
@output_option(
    "The CSV file to write (text,label,note,model_version,created_at).",
    type=click.Path(dir_okay=False, path_type=Path),
)
@feedback_db_option
def export_feedback(destination: Path, db_path: Path) -> None:
    """Write every correction, oldest first, to a CSV file that appears only once complete."""
    if not db_path.exists():
        raise InputError(f"{db_path} does not exist: no correction has been stored there yet")
    with reading(db_path), writing(destination), FeedbackStore(db_path) as store:
        count = store.export_csv(destination)
    click.echo(f"exported {count} correction(s) to {destination}", err=True)
