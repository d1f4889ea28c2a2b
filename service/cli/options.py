"""The options several commands share: one name, one help text and one default each."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from model import TEXT_COLUMN, home

# Paths are asked of model.home when a command runs, not at import: a checkout keeps ./artifacts,
# ./reports and data/; elsewhere they are Stance's home and the corpus the package ships.
DEFAULT_MODEL_DIR = home.model_dir
DEFAULT_DATA = home.training_data
DEFAULT_TEST = home.test_data
DEFAULT_NEWS_TEST = home.news_test_data
DEFAULT_HELD_OUT = home.held_out_data
DEFAULT_REPORTS = home.reports_dir
OUTSIDE = "outside a checkout: "
SHOWN = {
    DEFAULT_MODEL_DIR: f"artifacts; {OUTSIDE}$STANCE_HOME/artifacts",
    DEFAULT_REPORTS: f"reports; {OUTSIDE}$STANCE_HOME/reports",
    DEFAULT_DATA: f"data/statements.csv; {OUTSIDE}the packaged copy",
    DEFAULT_TEST: f"data/test.csv; {OUTSIDE}the packaged copy",
    DEFAULT_NEWS_TEST: f"data/news_test.csv; {OUTSIDE}the packaged copy",
    DEFAULT_HELD_OUT: f"data/test.csv data/news_test.csv; {OUTSIDE}the packaged copies",
}

model_dir_option = click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_MODEL_DIR,
    show_default=SHOWN[DEFAULT_MODEL_DIR],
    envvar="STANCE_MODEL_DIR",
    show_envvar=True,
    help="Where trained model versions live.",
)

# --db is the older spelling, kept so existing scripts still work.
feedback_db_option = click.option(
    "--feedback-db",
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=home.feedback_db,
    show_default=f"feedback.sqlite3; {OUTSIDE}$STANCE_HOME/feedback.sqlite3",
    envvar="STANCE_FEEDBACK_DB",
    show_envvar=True,
    help="The SQLite file that holds users' corrections (the service's FEEDBACK_DB).",
)


def labelled_file_option(name: str, default: Callable[[], Any], help: str, **kwargs):
    """An option naming a labelled CSV file (text,label); multiple=True for several."""
    return click.option(
        name,
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        show_default=SHOWN[default],
        help=help,
        **kwargs,
    )


def output_option(help: str, **kwargs):
    """The -o/--output option: where a command writes its file."""
    return click.option("-o", "--output", "destination", required=True, help=help, **kwargs)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (the API's shape, where there is one)."
)

explain_option = click.option(
    "--explain",
    is_flag=True,
    help="Add the terms that pushed each call toward its label and against it, with weights.",
)

actors_option = click.option(
    "--actors",
    is_flag=True,
    help="Add the actors named, with their ids, offsets and roles (speaker, target, mentioned).",
)

text_column_option = click.option(
    "--text-column",
    default=TEXT_COLUMN,
    show_default=True,
    help="The column that holds the statements.",
)


def date_column_option(default: str | None, help: str):
    """The --date-column option: the column that holds each statement's date."""
    return click.option("--date-column", default=default, show_default=True, help=help)


def example(command: str) -> str:
    """The epilog that ends a command's --help: one command line to copy."""
    return f"\b\nExample:\n  {command}"  # \b: click prints the paragraph as written
