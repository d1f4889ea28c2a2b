"""The `stance` command line: thin subcommands that each call one core function."""

import contextlib
import errno
import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from model import LABEL_COLUMN, LABELS, TEXT_COLUMN, ArtifactError, Predictor
from model.predict import Explanation
from model.versions import DEFAULT_KEEP, list_versions
from model.versions import promote as promote_version
from model.versions import rollback as rollback_version
from service.batch import CHUNK_ROWS, FORMATS, default_jobs
from service.feedback_cli import feedback
from training.feedback import DEFAULT_DB

DEFAULT_DATA = Path("data/statements.csv")
DEFAULT_TEST = Path("data/test.csv")
# Held out from training: our own test statements, and news-wire copy standing in for real news.
DEFAULT_HELD_OUT = (DEFAULT_TEST, Path("data/news_test.csv"))
DEFAULT_REPORTS = Path("reports")

model_dir_option = click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="artifacts",
    show_default=True,
    envvar="STANCE_MODEL_DIR",
    show_envvar=True,
    help="Where trained model versions live.",
)


def labelled_file_option(name: str, default: Path, help: str):
    """An option naming a labelled CSV file (text,label)."""
    return click.option(
        name,
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help=help,
    )


feedback_db_option = click.option(
    "--feedback-db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    envvar="STANCE_FEEDBACK_DB",
    show_envvar=True,
    help="The SQLite file that holds users' corrections.",
)


class InputError(click.ClickException):
    """Bad input from the user: one line on stderr, exit code 2."""

    exit_code = 2


def load_predictor(model_dir: Path) -> Predictor:
    return Predictor.load_current(model_dir)


class StanceGroup(click.Group):
    """Turn the errors every command can meet into one line on stderr.

    Bad input (ScoreError) exits 2; a model that cannot be used (ArtifactError) and a failing
    environment (OSError: a read-only folder, a full disk) exit 1. Never a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        from service.batch import ScoreError

        try:
            return super().invoke(ctx)
        except ScoreError as error:
            raise InputError(str(error)) from None
        except ArtifactError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            if error.errno == errno.EPIPE:
                raise  # click exits quietly when the reader of stdout has gone
            where = f"{error.filename}: " if error.filename else ""
            raise click.ClickException(f"{where}{error.strerror or error}") from None


@click.group(cls=StanceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stance")
def main() -> None:
    """Tag statements from diplomatic and political news as conciliatory, warning or neutral."""
    # A shell starts background jobs (`stance ... &` in a script) with SIGINT ignored, and
    # Python keeps it so: Ctrl+C and kill -INT must still stop a run and clean up after it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


def format_actors(actors: dict[str, Any]) -> str:
    hints = "; ".join(
        f"{h['text']} {h['start']}-{h['end']} {h['id']} {h['role']}" for h in actors["hints"]
    )
    return (
        f"speaker {actors['speaker'] or '-'}, target {actors['target'] or '-'}"
        f"   actors: {hints or '-'}"
    )


def format_terms(explanation: Explanation, top: int = 5) -> str:
    def terms(group: tuple) -> str:
        return ", ".join(f"{t.term} ({t.weight:+.2f})" for t in group[:top]) or "-"

    return f"toward: {terms(explanation.toward)}   against: {terms(explanation.against)}"


@main.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON shape instead.")
@explain_option
@actors_option
@model_dir_option
def predict(
    texts: tuple[str, ...], as_json: bool, explain: bool, actors: bool, model_dir: Path
) -> None:
    """Print the label and probabilities of each TEXT."""
    from model.actors import actors_of

    empty = [i + 1 for i, text in enumerate(texts) if not text.strip()]
    if empty:
        raise InputError(f"text {empty[0]} is empty")
    predictor = load_predictor(model_dir)
    predictions = predictor.predict(list(texts), explain=explain)
    found = [actors_of(text) if actors else None for text in texts]
    if as_json:
        answers = [p.as_dict() for p in predictions]
        for answer, named in zip(answers, found, strict=True):
            if named is not None:
                answer["actors"] = named
        payload = {"model_version": predictor.version, "predictions": answers}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    for text, prediction, named in zip(texts, predictions, found, strict=True):
        odds = "  ".join(f"{label} {prediction.probabilities[label]:.2f}" for label in LABELS)
        click.echo(f"{prediction.label:<13} {prediction.confidence:.2f}  [{odds}]  {text}")
        if prediction.explanation:
            click.echo(f"{'':<19}{format_terms(prediction.explanation)}")
        if named is not None:
            click.echo(f"{'':<19}{format_actors(named)}")


@main.command()
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON shape instead.")
@explain_option
@actors_option
@model_dir_option
def analyze(source: TextIO, as_json: bool, explain: bool, actors: bool, model_dir: Path) -> None:
    """Split a document SOURCE ('-' for stdin) into sentences and label each one."""
    from model.document import analyze as analyze_document

    try:
        text = source.read()
    except UnicodeDecodeError as error:
        raise InputError(
            f"{source.name}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    if not text.strip():
        raise InputError(f"{source.name}: the document is empty")
    analysis = analyze_document(load_predictor(model_dir), text, explain=explain, actors=actors)
    if as_json:
        click.echo(json.dumps(analysis.as_dict(), indent=2, ensure_ascii=False))
        return
    width = shutil.get_terminal_size((100, 20)).columns
    for call in analysis.sentences:
        p = call.prediction
        line = f"{p.label:<13} {p.confidence:.2f}  {call.sentence.text}"
        click.echo(line if len(line) <= width else line[: width - 1] + "…")
        if p.explanation:
            click.echo(f"{'':<19}{format_terms(p.explanation)}")
        if call.actors is not None:
            click.echo(f"{'':<19}{format_actors(call.actors)}")
    summary = analysis.summary()
    counts = ", ".join(f"{label} {n}" for label, n in summary["counts"].items())
    click.echo(
        f"\n{len(analysis.sentences)} sentences: {counts}; tone {summary['tone']:+.2f} "
        f"(-1 all warning, +1 all conciliatory)"
    )


@main.command()
@labelled_file_option("--data", DEFAULT_DATA, "Labelled training statements (text,label).")
@click.option(
    "--test",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    default=DEFAULT_HELD_OUT,
    show_default=True,
    help="Held-out labelled statements, never trained on; repeat for several files, each scored.",
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
    from training.data import DataError
    from training.feedback import FeedbackStore
    from training.train import train as train_model

    corrections = None
    if with_feedback:
        with FeedbackStore(db_path) as store:
            corrections = store.as_training_frame()
        click.echo(f"adding {len(corrections)} correction(s) from {db_path}")
    try:
        version_dir, metadata = train_model(
            data, test, model_dir, search=search, keep=keep, corrections=corrections
        )
    except DataError as error:
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


@main.command()
@labelled_file_option("--data", DEFAULT_TEST, "Labelled statements to evaluate on.")
@click.option(
    "--reports",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_REPORTS,
    show_default=True,
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
    from model.versions import history
    from training.data import DataError, problems_in, read_labelled
    from training.report import REPORT_MARKDOWN, write_report

    try:
        frame = read_labelled(data)
        problems = problems_in(frame, data.name)
        if problems:
            raise DataError(problems)
        baseline_labels = read_labelled(train_data)[LABEL_COLUMN].tolist()
    except DataError as error:
        raise InputError("; ".join(error.problems)) from None
    predictor = Predictor.load(model_dir / version) if version else None
    current = load_predictor(model_dir)
    predictor = predictor or current
    deployed = current if predictor.version != current.version else None
    earlier = [v for v in history(model_dir) if v != predictor.version]
    if deployed is None and earlier:
        with contextlib.suppress(ArtifactError):  # the replaced version may have been pruned
            deployed = Predictor.load(model_dir / earlier[-1])
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


@main.command()
@click.argument("source", type=str)
@click.option(
    "-o",
    "--output",
    "destination",
    required=True,
    help="Where to write the scored file ('-' for stdout).",
)
@click.option(
    "--text-column",
    default=TEXT_COLUMN,
    show_default=True,
    help="The column that holds the statements.",
)
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
    input_format: str | None,
    output_format: str | None,
    jobs: int,
    chunk_rows: int,
    engine: str,
    scheduler: str | None,
    model_dir: Path,
) -> None:
    """Score the statements of a CSV, JSON Lines or Parquet file SOURCE ('-' for stdin).

    Every input column and row is kept, in order; label, confidence and one p_<label> column
    per label are added. The output appears only once it is complete. With --engine dask,
    OUTPUT may be a folder (an existing one, or a name ending in /): it gets one part per
    block, Parquet unless --output-format says otherwise.
    """
    from tqdm import tqdm

    from service.batch import score_file

    if scheduler and engine != "dask":
        raise click.BadParameter("--scheduler needs --engine dask", param_hint="--scheduler")
    predictor = load_predictor(model_dir)
    # A terminated run must clean up its partial file like an interrupted one does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with contextlib.ExitStack() as stack:
        bars: list[tqdm] = []

        def show(done: int, total: int | None, unit: str) -> None:
            if not bars:  # made at the first chunk, once the workers are forked and the unit known
                bars.append(
                    stack.enter_context(
                        tqdm(
                            total=total,
                            unit=unit,
                            unit_scale=unit == "B",
                            disable=None,
                            file=sys.stderr,
                            leave=False,
                        )
                    )
                )
            bars[0].update(done - bars[0].n)

        if engine == "dask":
            from service.dask_engine import score_file_dask

            summary = score_file_dask(
                predictor,
                model_dir,
                source,
                destination,
                text_column,
                scheduler,
                input_format=input_format,
                output_format=output_format,
                on_progress=show,
            )
            click.echo(summary.line(), err=True)
            return
        summary = score_file(
            predictor,
            source,
            destination,
            text_column,
            chunk_rows,
            show,
            jobs=jobs,
            input_format=input_format,
            output_format=output_format,
        )
    click.echo(summary.line(), err=True)


def comma_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    if value is not None and not items:
        raise click.BadParameter("give one or more names separated by commas")
    return items


@main.command()
@click.argument("scored", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "destination", required=True, type=click.Path(path_type=Path),
    help="The CSV to write; the chart goes beside it with the same name and .png.",
)  # fmt: skip
@click.option(
    "--by", default="speaker,target", show_default=True, callback=comma_list,
    help="The actor columns that make a dyad, separated by commas.",
)  # fmt: skip
@click.option(
    "--freq", type=click.Choice(["W", "M", "Q"]), default="M", show_default=True,
    help="Periods: weeks, months or quarters.",
)  # fmt: skip
@click.option("--date-column", default="date", show_default=True, help="The dates' column.")
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
    from service.timeline import TimelineError, write_timeline

    try:
        png, summary = write_timeline(
            scored, destination, by, freq, date_column, dyads or None, top
        )
    except TimelineError as error:
        raise InputError(str(error)) from None
    click.echo(summary.line(), err=True)
    click.echo(f"wrote {destination} and {png} ({', '.join(summary.dyads)})", err=True)


@main.command("data-report")
@labelled_file_option("--data", DEFAULT_DATA, "Labelled training statements.")
@labelled_file_option("--test", DEFAULT_TEST, "Held-out labelled statements.")
@labelled_file_option("--news-test", DEFAULT_HELD_OUT[1], "Held-out news-wire statements.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def data_report(data: Path, test: Path, news_test: Path, as_json: bool) -> None:
    """Describe the labelled data: labels, lengths, actors, near-duplicates, and validation."""
    from training.corpus_report import corpus_report, format_corpus_report
    from training.data import DataError, load_corpus

    try:
        report = corpus_report(data, test, news_test)
    except DataError as error:
        raise InputError("; ".join(error.problems)) from None
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


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@model_dir_option
def models(as_json: bool, model_dir: Path) -> None:
    """List the stored model versions, newest first, with their scores; * marks the current."""
    versions = list_versions(model_dir)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in versions], indent=2))
        return
    if not versions:
        raise click.ClickException(f"no model versions in {model_dir}: run `make train`")
    click.echo(f"  {'version':<30}{'trained at':<28}{'CV macro-F1':>12}{'held-out':>10}")
    for v in versions:
        cv = "-" if v.cv_macro_f1 is None else f"{v.cv_macro_f1:.3f}"
        held = "-" if v.held_out_macro_f1 is None else f"{v.held_out_macro_f1:.3f}"
        mark = "*" if v.current else " "
        click.echo(f"{mark} {v.version:<30}{v.trained_at:<28}{cv:>12}{held:>10}")


@main.command()
@click.argument("version")
@model_dir_option
def promote(version: str, model_dir: Path) -> None:
    """Make VERSION the current model, after verifying it; running services pick it up."""
    promote_version(model_dir, version)
    click.echo(f"{version} is now current")


@main.command()
@model_dir_option
def rollback(model_dir: Path) -> None:
    """Make the previously current model current again."""
    version = rollback_version(model_dir)
    click.echo(f"rolled back: {version} is now current")


main.add_command(feedback)

if __name__ == "__main__":
    main()
