"""The evaluation report and the calibration study: real model, real files, known answers."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold

from model import LABEL_COLUMN, LABELS, TEXT_COLUMN, Predictor
from model.pipeline import base_pipeline, build_pipeline
from studies import calibration_study
from training.data import read_labelled
from training.metrics import metrics
from training.report import (
    FIGURES,
    REPORT_JSON,
    REPORT_MARKDOWN,
    calibration_bins,
    expected_calibration_error,
    top_terms,
    write_report,
)

from ..helpers import DATA, HELD_OUT, TEST_DATA

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    return read_labelled(TEST_DATA)


@pytest.fixture(scope="module")
def training_labels() -> pd.Series:
    return read_labelled(DATA)[LABEL_COLUMN]


@pytest.fixture(scope="module")
def other_predictor() -> Predictor:
    """A genuinely different model standing in for the deployed version: less data, unigrams."""
    corpus = read_labelled(DATA).iloc[::4]
    pipeline = build_pipeline({"tfidf__ngram_range": (1, 1), "clf__C": 1.0})
    pipeline.fit(corpus[TEXT_COLUMN].tolist(), corpus[LABEL_COLUMN].to_numpy())
    return Predictor(pipeline, {"version": "deployed-for-test"})


@pytest.fixture(scope="module")
def written(predictor, held_out, training_labels, tmp_path_factory):
    """One report on the real model and data/test.csv, without a deployed version."""
    folder = tmp_path_factory.mktemp("report")
    return folder, write_report(predictor, held_out, folder, baseline_labels=training_labels)


def predicted_labels(predictor: Predictor, frame: pd.DataFrame) -> np.ndarray:
    return np.array([p.label for p in predictor.predict(frame[TEXT_COLUMN].tolist())])


def test_report_writes_markdown_json_and_real_pngs(written):
    folder, report = written
    assert json.loads((folder / REPORT_JSON).read_text()) == report
    markdown = (folder / REPORT_MARKDOWN).read_text()
    assert markdown.startswith(f"# Evaluation report: model `{report['model_version']}`")
    for name in FIGURES.values():
        content = (folder / name).read_bytes()
        assert len(content) > 1000 and content.startswith(PNG_SIGNATURE)
        # Embedded with a relative link, so the folder can be moved or published as it is.
        assert f"]({name})" in markdown
    assert set(re.findall(r"!\[[^]]*\]\(([^)]+)\)", markdown)) == set(FIGURES.values())


def test_report_metrics_agree_with_training_metrics(written, predictor, held_out):
    _, report = written
    expected = metrics(held_out[LABEL_COLUMN], predicted_labels(predictor, held_out))
    assert {key: report[key] for key in expected} == expected
    assert report["model_version"] == predictor.version
    assert report["label_counts"] == held_out[LABEL_COLUMN].value_counts().to_dict()


def test_report_calibration_matches_the_model_probabilities(written, predictor, held_out):
    _, report = written
    probabilities = predictor.probabilities(held_out[TEXT_COLUMN].tolist())
    correct = np.asarray(LABELS)[probabilities.argmax(axis=1)] == held_out[LABEL_COLUMN]
    calibration = report["calibration"]
    assert calibration["ece"] == round(
        expected_calibration_error(probabilities.max(axis=1), correct), 4
    )
    assert sum(b["count"] for b in calibration["bins"]) == len(held_out)
    assert len(calibration["bins"]) == calibration["n_bins"] == 10


def test_most_confidently_wrong_are_wrong_and_sorted(written, predictor):
    _, report = written
    wrong = report["confidently_wrong"]
    assert 0 < len(wrong) <= 15
    assert [w["confidence"] for w in wrong] == sorted(
        (w["confidence"] for w in wrong), reverse=True
    )
    for row, prediction in zip(wrong, predictor.predict([w["text"] for w in wrong]), strict=True):
        assert row["true_label"] != row["predicted_label"] == prediction.label
        assert row["confidence"] == round(prediction.confidence, 4)


def test_top_terms_are_the_largest_coefficients(written, predictor):
    _, report = written
    pipeline = base_pipeline(predictor.pipeline)
    vocabulary = list(pipeline.named_steps["tfidf"].get_feature_names_out())
    coefficients = pipeline.named_steps["clf"].coef_
    for index, label in enumerate(LABELS):
        terms = report["top_terms"][label]
        assert len(terms) == 15
        weights = [t["weight"] for t in terms]
        assert weights == sorted(weights, reverse=True)
        assert weights[-1] >= round(float(np.sort(coefficients[index])[-15]), 4)
        for term in terms:
            assert term["weight"] == round(
                float(coefficients[index][vocabulary.index(term["term"])]), 4
            )


def test_top_terms_of_a_calibrated_pipeline_are_its_base_pipelines():
    corpus = read_labelled(DATA).iloc[::12]
    texts, labels = corpus[TEXT_COLUMN].tolist(), corpus[LABEL_COLUMN].to_numpy()
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    # Unigrams and strong regularisation: the fastest fits; the weights need not be good.
    fast = {"tfidf__ngram_range": (1, 1), "clf__C": 1.0}
    calibrated = CalibratedClassifierCV(build_pipeline(fast), cv=folds, ensemble=False)
    calibrated.fit(texts, labels)
    assert top_terms(calibrated, n=5) == top_terms(build_pipeline(fast).fit(texts, labels), n=5)
    ensemble = CalibratedClassifierCV(build_pipeline(fast), cv=folds).fit(texts, labels)
    with pytest.raises(ValueError, match="ensemble of 3"):
        top_terms(ensemble)


def test_without_a_deployed_version_the_comparison_has_the_baseline(
    written, held_out, training_labels
):
    folder, report = written
    # The most frequent training label, ties going to the first label as in scikit-learn.
    counts = training_labels.value_counts()
    majority = max(LABELS, key=lambda label: counts.get(label, 0))
    assert [row["name"] for row in report["comparison"]] == [
        "this model",
        f"majority-class baseline (always {majority})",
    ]
    assert report["deployed"] is None
    assert "No deployed version was given" in (folder / REPORT_MARKDOWN).read_text()
    baseline = report["comparison"][1]
    assert baseline["accuracy"] == round(float((held_out[LABEL_COLUMN] == majority).mean()), 4)


def test_comparison_with_a_deployed_version(predictor, other_predictor, held_out, tmp_path):
    report = write_report(
        predictor,
        held_out,
        tmp_path,
        deployed=other_predictor,
        baseline_labels=read_labelled(DATA)[LABEL_COLUMN],
    )
    names = [row["name"] for row in report["comparison"]]
    assert names[:2] == ["this model", "deployed"]
    deployed_row = report["comparison"][1]
    expected = metrics(held_out[LABEL_COLUMN], predicted_labels(other_predictor, held_out))
    assert deployed_row["model_version"] == "deployed-for-test"
    assert deployed_row["macro_f1"] == expected["macro_f1"] != report["macro_f1"]
    disagreements = (
        predicted_labels(predictor, held_out) != predicted_labels(other_predictor, held_out)
    ).sum()
    assert report["deployed"]["disagreements"] == disagreements > 0
    markdown = (tmp_path / REPORT_MARKDOWN).read_text()
    assert "| deployed | deployed-for-test |" in markdown
    assert f"disagree on {disagreements} of {len(held_out)} statements" in markdown


def test_baseline_is_fitted_on_the_labels_it_is_given(predictor, held_out, tmp_path):
    report = write_report(
        predictor, held_out, tmp_path, baseline_labels=["warning", "warning", "neutral"]
    )
    baseline = report["baseline"]
    assert baseline["name"] == "majority-class baseline (always warning)"
    assert baseline["fitted_on_labels"] == 3
    assert baseline["accuracy"] == round(float((held_out[LABEL_COLUMN] == "warning").mean()), 4)
    # Always certain and right only on warnings: its ECE is its error rate.
    assert baseline["ece"] == round(1 - float((held_out[LABEL_COLUMN] == "warning").mean()), 4)


def test_awkward_statements_stay_one_table_row(predictor, tmp_path):
    frame = pd.DataFrame(
        {
            TEXT_COLUMN: [
                "We condemn the attack | and warn\nof consequences.",
                "The two sides agreed to resume dialogue.",
            ],
            LABEL_COLUMN: ["conciliatory", "warning"],
        }
    )
    report = write_report(predictor, frame, tmp_path)
    assert len(report["confidently_wrong"]) == 2
    assert report["baseline"] is None
    markdown = (tmp_path / REPORT_MARKDOWN).read_text()
    assert "| We condemn the attack \\| and warn of consequences. | conciliatory |" in markdown


def test_an_empty_frame_is_refused(predictor, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        write_report(predictor, pd.DataFrame({TEXT_COLUMN: [], LABEL_COLUMN: []}), tmp_path)


def test_ece_of_a_perfectly_calibrated_model_is_zero():
    # 80% sure and right 8 times in 10; 55% sure and right 11 times in 20.
    confidences = [0.8] * 10 + [0.55] * 20
    correct = [True] * 8 + [False] * 2 + [True] * 11 + [False] * 9
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.0)


def test_ece_of_an_always_certain_coin_flip_is_one_half():
    assert expected_calibration_error([1.0] * 10, [True, False] * 5) == pytest.approx(0.5)


def test_ece_weights_each_bin_by_its_share():
    # Half at 0.9 and always right (gap 0.1), half at 0.6 and right 3 times in 10 (gap 0.3).
    confidences = [0.9] * 10 + [0.6] * 10
    correct = [True] * 10 + [True] * 3 + [False] * 7
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.2)


def test_calibration_bins_are_closed_on_the_right():
    bins = calibration_bins([0.3, 0.31, 1.0, 0.0], [True, True, True, False])
    counts = {(b["lower"], b["upper"]): b["count"] for b in bins}
    assert counts[(0.2, 0.3)] == 1 and counts[(0.3, 0.4)] == 1
    assert counts[(0.9, 1.0)] == 1 and counts[(0.0, 0.1)] == 1


def test_ece_refuses_mismatched_or_empty_input():
    with pytest.raises(ValueError):
        expected_calibration_error([0.5, 0.6], [True])
    with pytest.raises(ValueError):
        expected_calibration_error([], [])


def row(method: str, ece_change: float, macro_f1_change: float, log_loss_change: float) -> dict:
    return {
        "method": method,
        "ece_change": ece_change,
        "macro_f1_change": macro_f1_change,
        "log_loss_change": log_loss_change,
        "log_loss": 0.3 + log_loss_change,
    }


def test_calibration_is_recommended_only_when_it_helps_at_no_cost():
    plain = row("uncalibrated", 0.0, 0.0, 0.0)
    recommend = calibration_study.recommendation
    assert recommend([plain, row("sigmoid", -0.03, 0.0, -0.01)]) == "sigmoid"
    assert recommend([plain, row("sigmoid", -0.03, -0.01, -0.01)]) == "uncalibrated"
    assert recommend([plain, row("sigmoid", 0.01, 0.0, -0.01)]) == "uncalibrated"
    assert recommend([plain, row("sigmoid", -0.03, 0.0, 0.005)]) == "uncalibrated"
    both = [plain, row("sigmoid", -0.03, 0.0, -0.02), row("isotonic", -0.05, 0.0, -0.01)]
    assert recommend(both) == "sigmoid"


def test_a_rejected_variant_says_why():
    verdict = calibration_study.verdict(row("isotonic", 0.01, -0.01, 0.02))
    assert verdict == "rejected: does not lower ECE, costs macro-F1, raises log-loss"
    assert calibration_study.verdict(row("sigmoid", -0.01, 0.0, -0.01)) == "accepted"


def test_calibration_study_runs_on_a_small_corpus(write_csv, capsys):
    corpus = read_labelled(DATA).groupby(LABEL_COLUMN).head(40)
    path = write_csv("small.csv", [[TEXT_COLUMN, LABEL_COLUMN], *corpus.to_numpy().tolist()])
    assert calibration_study.main(["--data", str(path), "--folds", "2", "--inner-folds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "120 statements" in printed
    for method in calibration_study.METHODS:
        assert re.search(rf"^{method} +0\.\d{{4}} ±0\.\d{{3}} +[+-]0\.\d{{4}} ±", printed, re.M)
    assert re.search(r"^recommendation: [a-z-]+$", printed, re.MULTILINE)


def test_each_held_out_file_and_register_is_scored_on_its_own(predictor, tmp_path):
    from training.data import HELD_OUT_FILE, load_corpus

    _, frame = load_corpus(DATA, list(HELD_OUT))
    report = write_report(predictor, frame, tmp_path)
    slices = {(row["kind"], row["name"]): row for row in report["slices"]}
    for path in HELD_OUT:
        row = slices[("file", path.name)]
        assert row["support"] == int((frame[HELD_OUT_FILE] == path.name).sum())
        subset = frame[frame[HELD_OUT_FILE] == path.name]
        predicted = [p.label for p in predictor.predict(subset[TEXT_COLUMN].tolist())]
        assert row["macro_f1"] == metrics(subset[LABEL_COLUMN], np.asarray(predicted))["macro_f1"]
    for register in ("wire copy", "first person", "headline", "long (over 30 words)"):
        assert slices[("register", register)]["support"] > 0
    markdown = (tmp_path / REPORT_MARKDOWN).read_text()
    assert (
        "## By held-out file and by register" in markdown and "| wire copy | register |" in markdown
    )
