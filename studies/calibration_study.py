"""Measure whether calibrating the pipeline's probabilities helps, on the training corpus only.

Run: ``.venv/bin/python -m studies.calibration_study [--data data/statements.csv]``

Stratified k-fold cross-validation over data/statements.csv (never data/test.csv, which stays
the untouched held-out set): in each outer fold the plain pipeline and CalibratedClassifierCV
variants are fitted on the training part and scored on the held-out part on expected calibration
error, mean overconfidence, log-loss and macro-F1. Each variant is calibrated on its own inner
stratified folds of the outer training part:

- sigmoid, isotonic: the whole pipeline is wrapped; one pipeline per inner fold, averaged
  (scikit-learn's default ``ensemble=True``).
- sigmoid-single: the whole pipeline is wrapped with ``ensemble=False``: one sigmoid per label
  fitted on out-of-fold scores, over one pipeline fitted on all the training part, so prediction
  costs what it costs today.
- sigmoid-clf: only the classifier step is wrapped, keeping the pipeline's named steps.

The rule: calibrate only if it lowers ECE on held-out data without costing macro-F1; this study
also asks that it not raise log-loss, the proper scoring rule over all labels.
"""

import argparse
import ast
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import f1_score, log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from model.labels import LABEL_COLUMN, LABELS, TEXT_COLUMN
from model.pipeline import DEFAULT_PARAMS, RANDOM_STATE, build_pipeline
from model.predict import decide
from training.data import problems_in, read_labelled
from training.report import expected_calibration_error

DEFAULT_DATA = Path("data/statements.csv")
OUTER_FOLDS = 5
INNER_FOLDS = 5
# A macro-F1 drop smaller than this (a tenth of a point) is noise, not a cost.
MACRO_F1_TOLERANCE = 0.001
MEASURES = ("ece", "overconfidence", "log_loss", "macro_f1")

Builder = Callable[[dict[str, Any], int], ClassifierMixin]


def _folds(count: int) -> StratifiedKFold:
    return StratifiedKFold(count, shuffle=True, random_state=RANDOM_STATE)


def _wrapped(method: str, ensemble: bool = True) -> Builder:
    def build(params: dict[str, Any], inner_folds: int) -> ClassifierMixin:
        return CalibratedClassifierCV(
            build_pipeline(params), method=method, cv=_folds(inner_folds), ensemble=ensemble
        )

    return build


def _calibrated_classifier_step(params: dict[str, Any], inner_folds: int) -> ClassifierMixin:
    # The TF-IDF step is fitted once, on the whole training part, calibration folds included.
    pipeline = build_pipeline(params)
    calibrated = CalibratedClassifierCV(
        pipeline.named_steps["clf"], method="sigmoid", cv=_folds(inner_folds)
    )
    return Pipeline([("tfidf", pipeline.named_steps["tfidf"]), ("clf", calibrated)])


METHODS: dict[str, Builder] = {
    "uncalibrated": lambda params, _inner_folds: build_pipeline(params),
    "sigmoid": _wrapped("sigmoid"),
    "isotonic": _wrapped("isotonic"),
    "sigmoid-single": _wrapped("sigmoid", ensemble=False),
    "sigmoid-clf": _calibrated_classifier_step,
}


def held_out_scores(true_labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Return ECE, overconfidence, log-loss and macro-F1 of probabilities (LABELS order)."""
    predicted = decide(probabilities)
    confidences, correct = probabilities.max(axis=1), predicted == true_labels
    return {
        "ece": expected_calibration_error(confidences, correct),
        # Positive: the model claims more than it delivers; negative: it undersells itself.
        "overconfidence": float(confidences.mean() - correct.mean()),
        "log_loss": float(log_loss(true_labels, probabilities, labels=list(LABELS))),
        "macro_f1": float(f1_score(true_labels, predicted, average="macro")),
    }


def compare(
    frame: pd.DataFrame,
    outer_folds: int = OUTER_FOLDS,
    inner_folds: int = INNER_FOLDS,
    methods: Sequence[str] = tuple(METHODS),
    params: dict[str, Any] | None = None,
) -> dict[str, list[dict[str, float]]]:
    """Return, per method, the held-out scores of each outer fold (same folds for every method)."""
    texts = frame[TEXT_COLUMN].to_numpy(dtype=object)
    labels = frame[LABEL_COLUMN].to_numpy(dtype=object)
    methods = ["uncalibrated", *(m for m in methods if m != "uncalibrated")]
    scores: dict[str, list[dict[str, float]]] = {method: [] for method in methods}
    for train_index, test_index in _folds(outer_folds).split(texts, labels):
        for method in methods:
            model = METHODS[method](params or {}, inner_folds)
            model.fit(texts[train_index].tolist(), labels[train_index])
            if tuple(model.classes_) != LABELS:
                raise ValueError(f"{method}: classes {model.classes_} differ from {LABELS}")
            probabilities = model.predict_proba(texts[test_index].tolist())
            scores[method].append(held_out_scores(labels[test_index], probabilities))
    return scores


def summarise(scores: dict[str, list[dict[str, float]]]) -> list[dict[str, Any]]:
    """Return one row per method: mean and spread per measure, and paired change from plain."""
    plain = scores["uncalibrated"]
    rows = []
    for method, folds in scores.items():
        row: dict[str, Any] = {"method": method, "folds": len(folds)}
        for measure in MEASURES:
            values = np.array([fold[measure] for fold in folds])
            row[measure] = float(values.mean())
            row[f"{measure}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        for measure in ("ece", "log_loss", "macro_f1"):
            changes = np.array(
                [fold[measure] - base[measure] for fold, base in zip(folds, plain, strict=True)]
            )
            row[f"{measure}_change"] = float(changes.mean())
        row["folds_with_lower_ece"] = sum(
            fold["ece"] < base["ece"] for fold, base in zip(folds, plain, strict=True)
        )
        rows.append(row)
    return rows


def verdict(row: dict[str, Any]) -> str:
    """Return why a calibrated variant is accepted or rejected against the uncalibrated one."""
    failures = []
    if row["ece_change"] >= 0:
        failures.append("does not lower ECE")
    if row["macro_f1_change"] < -MACRO_F1_TOLERANCE:
        failures.append("costs macro-F1")
    # ECE only looks at the top label, in bins; log-loss is a proper score over all labels, so a
    # calibration that raises it has traded one kind of probability error for another.
    if row["log_loss_change"] > 0:
        failures.append("raises log-loss")
    return "rejected: " + ", ".join(failures) if failures else "accepted"


def recommendation(rows: list[dict[str, Any]]) -> str:
    """Return the accepted variant with the lowest log-loss, or uncalibrated if none is."""
    accepted = [
        row for row in rows if row["method"] != "uncalibrated" and verdict(row) == "accepted"
    ]
    if not accepted:
        return "uncalibrated"
    return min(accepted, key=lambda row: row["log_loss"])["method"]


def format_table(rows: list[dict[str, Any]]) -> str:
    """Return the summary rows as an aligned text table."""
    lines = [
        f"{'method':<16}{'ECE':>15}{'overconfidence':>16}{'log-loss':>15}{'macro-F1':>15}"
        f"{'ΔECE':>10}{'Δmacro-F1':>11}{'folds ECE↓':>12}"
    ]
    for row in rows:
        cells = "".join(
            f"{row[m]:>{'+9' if m == 'overconfidence' else '8'}.4f} ±{row[f'{m}_std']:.3f}"
            for m in MEASURES
        )
        lines.append(
            f"{row['method']:<16}{cells}{row['ece_change']:>+10.4f}"
            f"{row['macro_f1_change']:>+11.4f}{row['folds_with_lower_ece']:>9}/{row['folds']}"
        )
    return "\n".join(lines)


def _parameter(text: str) -> tuple[str, Any]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study on the training corpus and print the table and the recommendation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled training CSV")
    parser.add_argument("--folds", type=int, default=OUTER_FOLDS, help="outer folds")
    parser.add_argument("--inner-folds", type=int, default=INNER_FOLDS, help="calibration folds")
    parser.add_argument(
        "--method",
        dest="methods",
        action="append",
        choices=list(METHODS),
        help="a variant to compare with uncalibrated (repeatable; default: all)",
    )
    parser.add_argument(
        "--param",
        dest="params",
        action="append",
        type=_parameter,
        default=[],
        metavar="NAME=VALUE",
        help="a pipeline parameter, e.g. clf__C=30 (repeatable; default: DEFAULT_PARAMS)",
    )
    arguments = parser.parse_args(argv)
    # Hashed before reading, so the header names the data the study actually ran on.
    data_sha256 = hashlib.sha256(arguments.data.read_bytes()).hexdigest()
    frame = read_labelled(arguments.data)
    problems = problems_in(frame, arguments.data.name)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    params = dict(arguments.params)
    started = time.perf_counter()
    scores = compare(
        frame, arguments.folds, arguments.inner_folds, arguments.methods or tuple(METHODS), params
    )
    rows = summarise(scores)
    settings = {**DEFAULT_PARAMS, **params}
    print(
        f"{len(frame)} statements from {arguments.data} "
        f"(sha256 {data_sha256[:12]}), "
        f"{arguments.folds}-fold stratified "
        f"cross-validation (calibration on {arguments.inner_folds} inner folds), "
        f"pipeline parameters {settings}, "
        f"{time.perf_counter() - started:.0f} s.\n"
        "Mean ± standard deviation over folds; Δ is the mean paired change from uncalibrated.\n"
    )
    print(format_table(rows))
    print(
        "\nA variant is accepted if it lowers mean held-out ECE, does not lower macro-F1 by more "
        f"than {MACRO_F1_TOLERANCE}, and does not raise log-loss."
    )
    for row in rows[1:]:
        print(
            f"  {row['method']:<16}ΔECE {row['ece_change']:+.4f}, Δmacro-F1 "
            f"{row['macro_f1_change']:+.4f}, Δlog-loss {row['log_loss_change']:+.4f}: "
            f"{verdict(row)}"
        )
    print(f"recommendation: {recommendation(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
