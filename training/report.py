"""Write a model's evaluation report: Markdown and JSON with PNG figures beside them.

The report answers "should this version be deployed?": headline metrics, a comparison with the
deployed version and a majority-class baseline, per-class figures, the confusion matrix,
calibration (reliability diagram and expected calibration error), the terms the model leans on,
and the statements it got most confidently wrong.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.dummy import DummyClassifier
from sklearn.metrics import log_loss

from model.atomic import write_atomically
from model.labels import LABEL_COLUMN, LABELS, TEXT_COLUMN
from model.pipeline import base_pipeline
from model.predict import Predictor, decide
from training.data import HELD_OUT_FILE
from training.metrics import metrics
from training.registers import register_masks

CALIBRATION_BINS = 10
TOP_TERMS = 15
MOST_CONFIDENTLY_WRONG = 15

REPORT_MARKDOWN = "report.md"
REPORT_JSON = "report.json"
FIGURES = {
    "per_class": "per_class.png",
    "confusion_matrix": "confusion_matrix.png",
    "reliability": "reliability.png",
}

ECE_DEFINITION = (
    "Expected calibration error: split the statements into 10 equal-width bins (0-0.1, ..., "
    "0.9-1.0, each closed on the right) by the probability of the predicted label (the top-class "
    "confidence); ECE is the sum over bins of (statements in bin / all statements) x "
    "|accuracy in bin - mean confidence in bin|. 0 means the model is right as often as it says; "
    "it ranges from 0 to 1."
)


def calibration_bins(
    confidences: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    n_bins: int = CALIBRATION_BINS,
) -> list[dict[str, Any]]:
    """Return count, mean confidence and accuracy for each equal-width confidence bin."""
    confidences = np.asarray(confidences, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    if confidences.shape != correct.shape:
        raise ValueError("confidences and correct must have the same length")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are right-closed, (lower, upper], as in Guo et al. (2017); a confidence of 0 goes to
    # the first bin.
    which = np.searchsorted(edges[1:-1], confidences, side="left")
    bins = []
    for index in range(n_bins):
        members = which == index
        count = int(members.sum())
        bins.append(
            {
                "lower": round(float(edges[index]), 4),
                "upper": round(float(edges[index + 1]), 4),
                "count": count,
                "mean_confidence": float(confidences[members].mean()) if count else None,
                "accuracy": float(correct[members].mean()) if count else None,
            }
        )
    return bins


def expected_calibration_error(
    confidences: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    n_bins: int = CALIBRATION_BINS,
) -> float:
    """Return the ECE of top-class confidences against whether each call was right."""
    bins = calibration_bins(confidences, correct, n_bins)
    total = sum(b["count"] for b in bins)
    if total == 0:
        raise ValueError("expected calibration error needs at least one prediction")
    return float(
        sum(
            b["count"] / total * abs(b["accuracy"] - b["mean_confidence"])
            for b in bins
            if b["count"]
        )
    )


def top_terms(model: Any, n: int = TOP_TERMS) -> dict[str, list[dict[str, Any]]]:
    """Return, per label, the n vocabulary terms with the largest logistic regression weights."""
    # Calibration only rescales the base scores: the base weights still say what pushes a label.
    model = base_pipeline(model)
    vocabulary = model.named_steps["tfidf"].get_feature_names_out()
    classifier = model.named_steps["clf"]
    if classifier.coef_.shape[0] != len(classifier.classes_):
        raise ValueError("top terms need one coefficient row per label (a multinomial model)")
    terms = {}
    for label, row in zip(classifier.classes_, classifier.coef_, strict=True):
        best = np.argsort(-row, kind="stable")[:n]
        terms[str(label)] = [
            {"term": str(vocabulary[i]), "weight": round(float(row[i]), 4)} for i in best
        ]
    return terms


def confidently_wrong(
    frame: pd.DataFrame, probabilities: np.ndarray, n: int = MOST_CONFIDENTLY_WRONG
) -> list[dict[str, Any]]:
    """Return the n wrong calls the model was surest of, surest first."""
    predicted = decide(probabilities)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != frame[LABEL_COLUMN].to_numpy())
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]
    return [
        {
            "text": frame[TEXT_COLUMN].iloc[i],
            "true_label": frame[LABEL_COLUMN].iloc[i],
            "predicted_label": str(predicted[i]),
            "confidence": round(float(confidence[i]), 4),
        }
        for i in worst
    ]


def _scores(true_labels: pd.Series, probabilities: np.ndarray) -> dict[str, Any]:
    predicted = decide(probabilities)
    correct = predicted == true_labels.to_numpy()
    return {
        "predicted": predicted,
        "metrics": metrics(true_labels, predicted),
        "ece": round(expected_calibration_error(probabilities.max(axis=1), correct), 4),
        "log_loss": round(float(log_loss(true_labels, probabilities, labels=list(LABELS))), 4),
    }


def _comparison_row(name: str, version: str | None, scores: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "model_version": version,
        "accuracy": scores["metrics"]["accuracy"],
        "macro_f1": scores["metrics"]["macro_f1"],
        "ece": scores["ece"],
        "log_loss": scores["log_loss"],
    }


def _baseline(frame: pd.DataFrame, training_labels: Sequence[str]) -> dict[str, Any]:
    training_labels = list(training_labels)
    dummy = DummyClassifier(strategy="most_frequent")
    # A dummy ignores its features; one column of zeros stands in for the texts.
    dummy.fit(np.zeros((len(training_labels), 1)), training_labels)
    predicted = dummy.predict(np.zeros((len(frame), 1)))
    correct = predicted == frame[LABEL_COLUMN].to_numpy()
    scores = metrics(frame[LABEL_COLUMN], predicted)
    return {
        "name": f"majority-class baseline (always {predicted[0]})",
        "model_version": None,
        "accuracy": scores["accuracy"],
        "macro_f1": scores["macro_f1"],
        # Always certain of one label: its ECE is 1 - accuracy, and log-loss is unbounded.
        "ece": round(expected_calibration_error(np.ones(len(frame)), correct), 4),
        "log_loss": None,
        "fitted_on_labels": len(training_labels),
    }


def slices(frame: pd.DataFrame, predicted: np.ndarray) -> list[dict[str, Any]]:
    """Return macro-F1 and support for each held-out file and each register of the frame.

    Real news differs from our own writing in register (README, "Real text"): a model that is
    good overall can still fail on wire copy or long sentences, so each is scored on its own.
    """
    texts, truth = frame[TEXT_COLUMN], frame[LABEL_COLUMN].to_numpy()
    groups: list[tuple[str, str, np.ndarray]] = []
    if HELD_OUT_FILE in frame:
        for name in dict.fromkeys(frame[HELD_OUT_FILE]):
            groups.append(("file", name, (frame[HELD_OUT_FILE] == name).to_numpy()))
    for name, mask in register_masks(texts).items():
        groups.append(("register", name, mask.to_numpy()))
    rows = []
    for kind, name, mask in groups:
        n = int(mask.sum())
        score = metrics(pd.Series(truth[mask]), predicted[mask]) if n else None
        rows.append(
            {
                "kind": kind,
                "name": name,
                "support": n,
                "macro_f1": None if score is None else score["macro_f1"],
                "accuracy": None if score is None else score["accuracy"],
            }
        )
    return rows


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    # The Agg canvas renders to memory: no display, no pyplot state shared with the caller.
    FigureCanvasAgg(figure)
    return figure


def plot_per_class(result: dict[str, Any], path: Path) -> None:
    """Draw precision, recall and F1 per label as grouped bars."""
    figure = _new_figure(6.4, 3.6)
    axes = figure.add_subplot()
    positions = np.arange(len(LABELS))
    width = 0.26
    for offset, measure in zip((-width, 0.0, width), ("precision", "recall", "f1"), strict=True):
        values = [result["per_class"][label][measure] for label in LABELS]
        bars = axes.bar(positions + offset, values, width, label=measure)
        axes.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    axes.set_xticks(positions, LABELS)
    # Headroom above the bars keeps the legend off them.
    axes.set_ylim(0, 1.22)
    axes.set_yticks(np.linspace(0, 1, 6))
    axes.set_ylabel("score")
    axes.set_title(
        f"Per class (accuracy {result['accuracy']:.3f}, macro-F1 {result['macro_f1']:.3f})"
    )
    axes.legend(loc="upper center", ncols=3, fontsize=8)
    figure.savefig(path)


def plot_confusion_matrix(result: dict[str, Any], path: Path) -> None:
    """Draw the confusion matrix, coloured by the share of each true label."""
    matrix = np.asarray(result["confusion_matrix"]["rows_true_columns_predicted"])
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure = _new_figure(5.2, 4.4)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(len(LABELS)):
        for column in range(len(LABELS)):
            colour = "white" if shares[row, column] > 0.6 else "black"
            axes.text(
                column,
                row,
                f"{matrix[row, column]}\n{shares[row, column]:.0%}",
                ha="center",
                va="center",
                color=colour,
            )
    axes.set_xticks(range(len(LABELS)), LABELS)
    axes.set_yticks(range(len(LABELS)), LABELS)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title("Confusion matrix (count, share of the true label)")
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true label")
    figure.savefig(path)


def plot_reliability(bins: list[dict[str, Any]], ece: float, path: Path) -> None:
    """Draw the reliability diagram: accuracy against confidence per bin, with bin counts."""
    figure = _new_figure(5.6, 5.6)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    filled = [b for b in bins if b["count"]]
    width = bins[0]["upper"] - bins[0]["lower"]
    centres = [(b["lower"] + b["upper"]) / 2 for b in filled]
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.bar(
        centres,
        [b["accuracy"] for b in filled],
        width=width * 0.9,
        color="tab:blue",
        edgecolor="black",
        label="accuracy in bin",
    )
    top.scatter(
        centres,
        [b["mean_confidence"] for b in filled],
        color="tab:red",
        zorder=3,
        label="mean confidence in bin",
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"Reliability diagram (ECE {ece:.3f}, {len(bins)} bins)")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(
        [(b["lower"] + b["upper"]) / 2 for b in bins],
        [b["count"] for b in bins],
        width=width * 0.9,
        color="grey",
    )
    bottom.set_xlabel("confidence of the predicted label")
    bottom.set_ylabel("statements")
    figure.savefig(path)


def _cell(text: Any) -> str:
    """Return text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _fixed(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


# The Markdown is a template shipped with the package: training/templates/report.md.j2.
# StrictUndefined: a key the template names but the report lacks is an error, not a blank.
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("training", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(cell=_cell, fixed=_fixed, signed=lambda value: f"{value:+.3f}")


def _markdown(report: dict[str, Any]) -> str:
    matrix = np.asarray(report["confusion_matrix"]["rows_true_columns_predicted"])
    off_diagonal = matrix - np.diag(np.diag(matrix))
    true_index, predicted_index = np.unravel_index(off_diagonal.argmax(), matrix.shape)
    terms = report["top_terms"]
    ranks = max(len(terms[label]) for label in LABELS)
    return TEMPLATES.get_template("report.md.j2").render(
        **report,
        labels=LABELS,
        terms_per_label=TOP_TERMS,
        # One row per rank, one cell per label; a label with fewer terms leaves its cell empty.
        term_rows=[
            [terms[label][rank] if rank < len(terms[label]) else None for label in LABELS]
            for rank in range(ranks)
        ],
        common_mistake={
            "true_label": LABELS[true_index],
            "predicted_label": LABELS[predicted_index],
            "statements": int(off_diagonal[true_index, predicted_index]),
        },
    )


def write_report(
    predictor: Predictor,
    frame: pd.DataFrame,
    out_dir: Path,
    deployed: Predictor | None = None,
    baseline_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Evaluate predictor on frame and write report.md, report.json and figures to out_dir.

    deployed is the version in service, to compare against; baseline_labels are the training
    labels a majority-class baseline is fitted on (never the held-out ones).
    """
    if frame.empty:
        raise ValueError("cannot report on an empty frame")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts, true_labels = frame[TEXT_COLUMN].tolist(), frame[LABEL_COLUMN]
    probabilities = predictor.probabilities(texts)
    scores = _scores(true_labels, probabilities)
    confidences = probabilities.max(axis=1)
    correct = scores["predicted"] == true_labels.to_numpy()
    comparison = [_comparison_row("this model", predictor.version, scores)]
    deployed_summary = None
    if deployed is not None:
        deployed_scores = _scores(true_labels, deployed.probabilities(texts))
        deployed_summary = {
            **_comparison_row("deployed", deployed.version, deployed_scores),
            "disagreements": int((deployed_scores["predicted"] != scores["predicted"]).sum()),
        }
        comparison.append(_comparison_row("deployed", deployed.version, deployed_scores))
    baseline = None if baseline_labels is None else _baseline(frame, baseline_labels)
    if baseline is not None:
        comparison.append({k: v for k, v in baseline.items() if k != "fitted_on_labels"})
    report = {
        "model_version": predictor.version,
        **scores["metrics"],
        "label_counts": {label: int((true_labels == label).sum()) for label in LABELS},
        "calibration": {
            "ece": scores["ece"],
            "log_loss": scores["log_loss"],
            "overconfidence": round(float(confidences.mean() - correct.mean()), 4),
            "n_bins": CALIBRATION_BINS,
            "definition": ECE_DEFINITION,
            "bins": calibration_bins(confidences, correct),
        },
        "comparison": comparison,
        "slices": slices(frame, scores["predicted"]),
        "deployed": deployed_summary,
        "baseline": baseline,
        "top_terms": top_terms(predictor.pipeline),
        "confidently_wrong": confidently_wrong(frame, probabilities),
        "figures": dict(FIGURES),
    }
    plot_per_class(report, out_dir / FIGURES["per_class"])
    plot_confusion_matrix(report, out_dir / FIGURES["confusion_matrix"])
    plot_reliability(report["calibration"]["bins"], scores["ece"], out_dir / FIGURES["reliability"])
    write_atomically(out_dir / REPORT_JSON, json.dumps(report, indent=2) + "\n")
    write_atomically(out_dir / REPORT_MARKDOWN, _markdown(report))
    return report
