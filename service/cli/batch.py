"""Files of statements: `stance score` (local or Dask) and `stance timeline` of scored files."""

import contextlib
import gc
import signal
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import click

from model import Predictor
from model.labels import ACTOR_COLUMNS, DATE_COLUMN
from service.cli.options import (
    actors_option,
    date_column_option,
    example,
    model_dir_option,
    output_option,
    text_column_option,
)
from service.files import CHUNK_ROWS, FORMATS, default_jobs

Progress = Callable[[int, int | None, str], None]


def progress_bar(stack: contextlib.ExitStack) -> Progress | None:
    """Return an on_progress callback drawing a bar on stderr when it is a terminal, else None.

    tqdm would draw nothing there either (disable=None), and importing it, which imports
    importlib.metadata, was 13 ms of a run's start-up.
    """
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bars: list[tqdm] = []

    def show(done: int, total: int | None, unit: str) -> None:
        if not bars:  # made at the first chunk, once the workers are forked and the unit known
            bar = tqdm(
                total=total,
                unit=unit,
                unit_scale=unit == "B",
                disable=None,
                file=sys.stderr,
                leave=False,
            )
            bars.append(stack.enter_context(bar))
        bars[0].update(done - bars[0].n)

    return show


@click.command(
    epilog=example("stance score statements.csv -o scored.csv --date-column date --actors")
)
@click.argument("source", type=str)
@output_option("Where to write the scored file ('-' for stdout).")
@text_column_option
@date_column_option(
    None, "A column of dates, passed through as written; with --actors, a date picks the leaders "
    "then in office.",
)  # fmt: skip
@click.option(
    "--source-column",
    help="A column naming each statement's source, passed through as written (checked to exist).",
)
@actors_option
@click.option(
    "--format",
    "input_format",
    type=click.Choice(FORMATS),
    help="The input's format (default: from its extension, else csv).",
)
@click.option(
    "--output-format",
    type=click.Choice(FORMATS),
    help="The output's format (default: from its extension, else the input's).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=default_jobs,
    show_default="all cores",
    help="Worker processes that score and format chunks; the row order is kept.",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=CHUNK_ROWS,
    show_default=True,
    help="Rows read and scored at a time; memory stays flat whatever the file size.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: this machine's cores (--jobs); dask: the workers of a Dask cluster.",
)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="With --engine dask: the cluster's scheduler (default: a local cluster of 2 workers).",
)
@model_dir_option
def score(
    source: str,
    destination: str,
    text_column: str,
    date_column: str | None,
    source_column: str | None,
    actors: bool,
    input_format: str | None,
    output_format: str | None,
    jobs: int,
    chunk_rows: int,
    engine: str,
    scheduler: str | None,
    model_dir: Path,
) -> None:
    """Score the statements of a CSV, JSON Lines or Parquet file SOURCE ('-' for stdin).

    Every input column and row is kept, in order and as written; label, confidence and one
    p_<label> column per label are added, and with --actors the speaker and target ids. The
    output appears only once it is complete. With --engine dask, OUTPUT may be a folder (an
    existing one, or a name ending in /): it gets one part per block, Parquet unless
    --output-format says otherwise.
    """
    if scheduler and engine != "dask":
        raise click.BadParameter("--scheduler needs --engine dask", param_hint="--scheduler")
    if engine == "dask":
        from service.dask_engine import score_file_dask

        run = partial(score_file_dask, model_dir=model_dir, scheduler=scheduler)
    else:
        from service.batch import score_file

        run = partial(score_file, chunk_rows=chunk_rows, jobs=jobs)
    predictor = Predictor.load_current(model_dir)
    # The model lives until the run ends: the collector need never walk its objects again, in
    # this process or the workers forked from it, nor at exit (that took ~0.06 s a run).
    gc.freeze()
    # A terminated run must clean up its partial file like an interrupted one does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    from service.batch import ColumnSpec  # only once a file is to be read

    with contextlib.ExitStack() as stack:
        summary = run(
            predictor,
            source=source,
            destination=destination,
            spec=ColumnSpec(text_column, date_column, source_column, actors),
            input_format=input_format,
            output_format=output_format,
            on_progress=progress_bar(stack),
        )
    click.echo(summary.line(), err=True)


def comma_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    if value is not None and not items:
        raise click.BadParameter("give one or more names separated by commas")
    return items


@click.command(
    epilog=example("stance timeline scored.csv --by speaker,target --freq M -o timeline.csv")
)
@click.argument("scored", type=click.Path(path_type=Path))
@output_option(
    "The CSV to write; the chart goes beside it with the same name and .png.",
    type=click.Path(path_type=Path),
)
@click.option(
    "--by", default=",".join(ACTOR_COLUMNS), show_default=True, callback=comma_list,
    help="The actor columns that make a dyad, separated by commas.",
)  # fmt: skip
@click.option(
    "--freq", type=click.Choice(["W", "M", "Q"]), default="M", show_default=True,
    help="Periods: weeks, months or quarters.",
)  # fmt: skip
@date_column_option(DATE_COLUMN, "The dates' column.")
@click.option(
    "--dyads", callback=comma_list,
    help="Dyads to draw, such as USA-CHN,RUS-UKR (default: the --top ones by statements).",
)  # fmt: skip
@click.option(
    "--top", type=click.IntRange(min=1), default=4, show_default=True,
    help="How many dyads to draw when --dyads is not given.",
)  # fmt: skip
def timeline(
    scored: Path,
    destination: Path,
    by: list[str],
    freq: str,
    date_column: str,
    dyads: list[str],
    top: int,
) -> None:
    """Aggregate a scored CSV (or a folder of CSV parts) per dyad and period into OUTPUT.

    Each row of OUTPUT is one dyad (the --by columns joined by "-") in one period: statements,
    counts and shares per label, and the tone as `stance analyze` defines it (mean
    p_conciliatory minus mean p_warning). The chart shows the chosen dyads' tone over time with
    the number of statements behind each point. Each file appears only once it is complete.
    """
    from service.timeline import write_timeline

    png, summary = write_timeline(scored, destination, by, freq, date_column, dyads or None, top)
    click.echo(summary.line(), err=True)
    click.echo(f"wrote {destination} and {png} ({', '.join(summary.dyads)})", err=True)
