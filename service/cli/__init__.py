"""The `stance` command line: thin subcommands that each call one core function.

One module per family of commands (predict, models, batch, feedback, serve); the options they share
are in options.py and the one translation of errors into exit codes in errors.py.
"""

import os
import signal

# Before numpy loads: scoring's numpy work is element-wise, so BLAS threads would only compete
# with the scoring processes, and starting them is part of every command's start-up.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click

from service.cli.batch import score, timeline
from service.cli.errors import StanceGroup
from service.cli.feedback import feedback
from service.cli.models import data_report, evaluate, models, promote, rollback, train
from service.cli.options import example
from service.cli.paths import paths
from service.cli.predict import analyze, predict
from service.cli.serve import serve

__all__ = ["main"]


@click.group(
    cls=StanceGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=example('stance predict "We remain open to dialogue without preconditions."'),
)
@click.version_option(package_name="stance")
def main() -> None:
    """Tag statements from diplomatic and political news as conciliatory, warning or neutral."""
    # A shell starts background jobs (`stance ... &` in a script) with SIGINT ignored, and
    # Python keeps it so: Ctrl+C and kill -INT must still stop a run and clean up after it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


for command in (
    predict,
    analyze,
    train,
    evaluate,
    score,
    timeline,
    data_report,
    models,
    promote,
    rollback,
    feedback,
    serve,
    paths,
):
    main.add_command(command)
