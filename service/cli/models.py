"""Training and model versions: train, evaluate, data-report, models, promote, rollback."""

import json
import sys
from pathlib import Path
from typing import Any

import click

from model import LABEL_COLUMN, Predictor, home
from model.versions import DEFAULT_KEEP, list_versions
from model.versions import promote as promote_version
from model.versions import rollback as rollback_version
from service.cli.errors import InputError
from service.cli.options import (
    DEFAULT_DATA,
    DEFAULT_HELD_OUT,
    DEFAULT_NEWS_TEST,
    DEFAULT_REPORTS,
    DEFAULT_TEST,
    SHOWN,
    example,
    feedback_db_option,
    json_option,
    labelled_file_option,
    model_dir_option,
)


class TrainingProgress:
    """Training's stages as bars on stderr, with the time left, when stderr is a terminal.

    Elsewhere (a log, a pipe) it stays silent, as `stance score` does, so an error stays the
    only line on stderr.
    """

    def __init__(self) -> None:
        self.stage: str | None = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, unit="step", disable=None, file=sys.stderr)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None


@click.command(
    epilog=example("stance train --data data/statements.csv --test data/test.csv --no-search")
)
@labelled_file_option("--data", DEFAULT_DATA, "Labelled training statements (text,label).")
@labelled_file_option(
    "--test",
    DEFAULT_HELD_OUT,
    "Held-out labelled statements, never trained on; repeat for several files, each scored.",
    multiple=True,
)
@click.option(
    "--search/--no-search",
    default=True,
    show_default=True,
    help="Choose n-grams and regularisation by cross-validation, or use the defaults.",
)
@click.option(
    "--with-feedback",
    is_flag=True,
    help="Add the users' corrections (stance feedback list) to the training data.",
)
@feedback_db_option
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=DEFAULT_KEEP,
    show_default=True,
    envvar="STANCE_KEEP_VERSIONS",
    show_envvar=True,
    help="How many model versions to keep; older ones are deleted (never the current one).",
)
@model_dir_option
def train(
    data: Path,
    test: tuple[Path, ...],
    search: bool,
    with_feedback: bool,
    db_path: Path,
    keep: int,
    model_dir: Path,
) -> None:
    """Validate the data, fit the model, evaluate it, and make it the current version."""
    from training.data import DataError, read_feedback
    from training.train import train as train_model

    feedback = None
    if with_feedback:
        feedback = read_feedback(db_path)
        click.echo(f"adding {len(feedback)} correction(s) from {db_path}")
    progress = TrainingProgress()
    try:
        version_dir, metadata = train_model(
            data,
            test,
            model_dir,
            search=search,
            keep=keep,
            feedback=feedback,
            on_progress=progress,
        )
    except DataError as error:
        progress.close()
        # Every problem on its own line, so that all of them can be fixed in one go.
        click.echo(f"The labelled data has {len(error.problems)} problem(s):", err=True)
        for line in error.problems:
            click.echo(f"  {line}", err=True)
        raise InputError("fix the rows above, then train again") from None
    scores = metadata["metrics"]
    click.echo(f"trained {metadata['version']} on {metadata['data']['train_rows']} statements")
    click.echo(f"  parameters: {json.dumps(metadata['params'])}")
    click.echo(
        f"  cross-validated macro-F1 {scores['cross_validated']['macro_f1_mean']:.3f} "
        f"(± {scores['cross_validated']['macro_f1_std']:.3f})"
    )
    for name, held_out in scores["held_out_by_file"].items():
        click.echo(
            f"  held-out macro-F1 {held_out['macro_f1']:.3f} on {name} ({held_out['n']} rows)"
        )
    click.echo(f"  saved to {version_dir} and made current")


@click.command(epilog=example("stance evaluate --data data/news_test.csv"))
@labelled_file_option("--data", DEFAULT_TEST, "Labelled statements to evaluate on.")
@click.option(
    "--reports",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_REPORTS,
    show_default=SHOWN[DEFAULT_REPORTS],
    envvar="STANCE_REPORTS_DIR",
    show_envvar=True,
    help="Folder for the report; it goes to REPORTS/<version>/.",
)
@click.option("--version", help="The stored version to evaluate (default: the current one).")
@labelled_file_option(
    "--train-data", DEFAULT_DATA, "Training labels, for the majority-class baseline."
)
@model_dir_option
def evaluate(
    data: Path, reports: Path, version: str | None, train_data: Path, model_dir: Path
) -> None:
    """Print a model's metrics on a labelled file and write its report to REPORTS/<version>/.

    The report (report.md, report.json, figures) compares the model with the deployed one (the
    current version; for the current version itself, the one it replaced) and with a
    majority-class baseline fitted on the training labels.
    """
    from model.versions import compared_with
    from training.data import DataError, problems_in, read_labelled
    from training.report import REPORT_MARKDOWN, write_report

    frame = read_labelled(data)
    problems = problems_in(frame, data.name)
    if problems:
        raise DataError(problems)
    baseline_labels = read_labelled(train_data)[LABEL_COLUMN].tolist()
    if version:
        predictor = Predictor.load(model_dir / version)
    else:
        predictor = Predictor.load_current(model_dir)
    deployed = compared_with(model_dir, predictor.version)  # the one rule, as training uses
    folder = reports / predictor.version
    report = write_report(predictor, frame, folder, deployed, baseline_labels)
    click.echo(format_metrics(report, data))
    calibration = report["calibration"]
    click.echo(
        f"\nexpected calibration error {calibration['ece']:.3f}, "
        f"log-loss {calibration['log_loss']:.3f}"
    )
    for row in report["comparison"]:
        name = " ".join(filter(None, [row["name"], row.get("model_version")]))
        click.echo(f"  {name:<46} macro-F1 {row['macro_f1']:.3f}  accuracy {row['accuracy']:.3f}")
    click.echo(f"report written to {folder / REPORT_MARKDOWN}")


def format_metrics(result: dict[str, Any], data: Path) -> str:
    lines = [
        f"model {result['model_version']} on {data} ({result['n']} statements)",
        f"accuracy {result['accuracy']:.3f}   macro-F1 {result['macro_f1']:.3f}",
        "",
        f"{'':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for label, row in result["per_class"].items():
        lines.append(
            f"{label:<14}{row['precision']:>10.3f}{row['recall']:>10.3f}"
            f"{row['f1']:>10.3f}{row['support']:>10}"
        )
    matrix = result["confusion_matrix"]
    lines += ["", "confusion matrix (rows: true label, columns: predicted)"]
    lines.append(f"{'':<14}" + "".join(f"{label:>14}" for label in matrix["labels"]))
    for label, row in zip(matrix["labels"], matrix["rows_true_columns_predicted"], strict=True):
        lines.append(f"{label:<14}" + "".join(f"{n:>14}" for n in row))
    return "\n".join(lines)


@click.command("data-report", epilog=example("stance data-report --json"))
@labelled_file_option("--data", DEFAULT_DATA, "Labelled training statements.")
@labelled_file_option("--test", DEFAULT_TEST, "Held-out labelled statements.")
@labelled_file_option("--news-test", DEFAULT_NEWS_TEST, "Held-out news-wire statements.")
@json_option
def data_report(data: Path, test: Path, news_test: Path, as_json: bool) -> None:
    """Describe the labelled data: labels, lengths, actors, near-duplicates, and validation."""
    from training.corpus_report import corpus_report, format_corpus_report
    from training.data import DataError, load_corpus

    report = corpus_report(data, test, news_test)
    try:
        load_corpus(data, [test, news_test])
        report["validation"] = []
    except DataError as error:
        report["validation"] = error.problems
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(format_corpus_report(report))
    problems = report["validation"]
    click.echo(f"\nvalidation: {len(problems)} problem(s)" if problems else "\nvalidation: passed")
    for line in problems:
        click.echo(f"  {line}")


@click.command(epilog=example("stance models --json"))
@json_option
@model_dir_option
def models(as_json: bool, model_dir: Path) -> None:
    """List the stored model versions, newest first, with their scores; * marks the current."""
    versions = list_versions(model_dir)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in versions], indent=2))
        return
    if not versions:
        raise click.ClickException(f"no model versions in {model_dir}: run {home.train_command()}")
    click.echo(f"  {'version':<30}{'trained at':<28}{'CV macro-F1':>12}{'held-out':>10}")
    for v in versions:
        cv = "-" if v.cv_macro_f1 is None else f"{v.cv_macro_f1:.3f}"
        held = "-" if v.held_out_macro_f1 is None else f"{v.held_out_macro_f1:.3f}"
        mark = "*" if v.current else " "
        click.echo(f"{mark} {v.version:<30}{v.trained_at:<28}{cv:>12}{held:>10}")


@click.command(epilog=example("stance promote 20261128-022039-1c002be0"))
@click.argument("version")
@model_dir_option
def promote(version: str, model_dir: Path) -> None:
    """Make VERSION the current model, after verifying it; running services pick it up."""
    promote_version(model_dir, version)
    click.echo(f"{version} is now current")


@click.command(epilog=example("stance rollback"))
@model_dir_option
def rollback(model_dir: Path) -> None:
    """Make the previously current model current again."""
    version = rollback_version(model_dir)
    click.echo(f"rolled back: {version} is now current")
