"""`stance predict` and `stance analyze`: label statements, or each sentence of a document."""

import json
import shutil
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from model import LABELS, Predictor
from model.predict import Explanation
from service.cli.errors import InputError
from service.cli.options import (
    actors_option,
    example,
    explain_option,
    json_option,
    model_dir_option,
)

# Continuation lines (terms, actors) start under the text of the line they explain.
INDENT = " " * 19


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


@click.command(epilog=example('stance predict --explain "We remain open to dialogue."'))
@click.argument("texts", nargs=-1, required=True)
@json_option
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
    predictor = Predictor.load_current(model_dir)
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
            click.echo(INDENT + format_terms(prediction.explanation))
        if named is not None:
            click.echo(INDENT + format_actors(named))


@click.command(epilog=example("stance analyze article.txt --actors"))
@click.argument("source", type=click.File("r", encoding="utf-8"))
@json_option
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
    predictor = Predictor.load_current(model_dir)
    analysis = analyze_document(predictor, text, explain=explain, actors=actors)
    if as_json:
        click.echo(json.dumps(analysis.as_dict(), indent=2, ensure_ascii=False))
        return
    # Cut to the terminal's width on a terminal only: a file or a pipe gets whole sentences.
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    for call in analysis.sentences:
        p = call.prediction
        line = f"{p.label:<13} {p.confidence:.2f}  {call.sentence.text}"
        click.echo(line if width is None or len(line) <= width else line[: width - 1] + "…")
        if p.explanation:
            click.echo(INDENT + format_terms(p.explanation))
        if call.actors is not None:
            click.echo(INDENT + format_actors(call.actors))
    summary = analysis.summary()
    counts = ", ".join(f"{label} {n}" for label, n in summary["counts"].items())
    click.echo(
        f"\n{len(analysis.sentences)} sentences: {counts}; tone {summary['tone']:+.2f} "
        f"(-1 all warning, +1 all conciliatory)"
    )
