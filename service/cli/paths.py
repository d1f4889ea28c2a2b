"""`stance paths`: where Stance keeps its files from here (model/home.py decides)."""

import json

import click

from model import home
from service.cli.options import example, json_option


@click.command(epilog=example("stance paths --json"))
@json_option
def paths(as_json: bool) -> None:
    """Print where the models, reports, feedback and corpus are for commands run here.

    Inside a checkout they are ./artifacts, ./reports, ./feedback.sqlite3 and data/; elsewhere
    under STANCE_HOME (default: the per-user data folder), with the corpus the package ships.
    STANCE_MODEL_DIR, STANCE_REPORTS_DIR and STANCE_FEEDBACK_DB override each one.
    """
    where = home.describe()
    if as_json:
        click.echo(json.dumps(where, indent=2))
        return
    for name, value in where.items():
        click.echo(f"{name:<15}{value}")
