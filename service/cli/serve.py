"""`stance serve`: the API and the page under gunicorn, configured as `make serve` does."""

import os
import sys
from pathlib import Path

import click

from service.cli.options import example, model_dir_option
from service.files import default_jobs

# Every other server setting (threaded workers, JSON logs, metrics) is in service/server.py.
GUNICORN_CONFIG = "python:service.server"


def gunicorn_command(host: str, port: int, workers: int) -> list[str]:
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # an IPv6 address
    return [
        *(sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG),
        *("--workers", str(workers), "--bind", bind),
    ]


@click.command(epilog=example("stance serve --port 8123 --workers 2"))
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="The port."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=default_jobs,
    show_default="all cores",
    help="gunicorn worker processes (each threaded: see service/server.py).",
)
@model_dir_option
def serve(host: str, port: int, workers: int, model_dir: Path) -> None:
    """Serve the API and the web page on HOST:PORT with gunicorn, as `make serve` does.

    It does not train: without a model the server answers 503 (see /readyz) until one is
    trained and made current, which it then picks up by itself.
    """
    os.environ["STANCE_MODEL_DIR"] = str(model_dir.resolve())
    command = gunicorn_command(host, port, workers)
    # gunicorn takes this process's place: signals (Ctrl+C, SIGTERM, SIGHUP) go straight to it.
    os.execv(command[0], command)
