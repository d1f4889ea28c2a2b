"""The pipeline and its artifact: round trip, refusal of tampered or skewed files, one path."""

import json
import shutil

import numpy as np
import pytest

from model import LABELS, ArtifactError, Predictor
from model.artifact import METADATA_FILE, MODEL_FILE, current_version
from model.pipeline import build_pipeline
from model.versions import promote


@pytest.fixture
def model_copy(model_dir, tmp_path):
    """A private copy of the session's model directory that a test may damage."""
    target = tmp_path / "artifacts"
    shutil.copytree(model_dir, target)
    return target, target / current_version(target)


def test_pipeline_is_tfidf_then_logistic_regression():
    pipeline = build_pipeline({"clf__C": 2.0})
    assert [name for name, _ in pipeline.steps] == ["tfidf", "clf"]
    assert pipeline.get_params()["clf__C"] == 2.0


def test_metadata_records_what_a_reader_needs(model_dir):
    version = current_version(model_dir)
    metadata = json.loads((model_dir / version / METADATA_FILE).read_text())
    assert metadata["version"] == version
    assert metadata["labels"] == list(LABELS)
    assert set(metadata["versions"]) == {
        "python",
        "scikit-learn",
        "numpy",
        "scipy",
        "joblib",
        "skops",
    }
    assert len(metadata["data"]["train_sha256"]) == 64
    assert len(metadata["sha256"]) == 64
    assert metadata["metrics"]["held_out"]["macro_f1"] > 0.6
    assert 0 < metadata["metrics"]["cross_validated"]["macro_f1_mean"] <= 1
    assert "clf__C" in metadata["params"] and metadata["trained_at"]


def test_reloaded_model_gives_identical_probabilities(predictor, model_dir):
    texts = ["Beijing warned that the arms sale would damage relations.", "Talks open Monday."]
    reloaded = Predictor.load_current(model_dir)
    np.testing.assert_array_equal(predictor.probabilities(texts), reloaded.probabilities(texts))


def test_predict_returns_one_prediction_per_text_in_order(predictor):
    texts = [
        "We condemn the missile launch and demand an immediate halt to provocations.",
        "The two sides agreed to resume dialogue and thanked Qatar for its mediation.",
        "The delegation will arrive in Geneva on Monday.",
    ]
    predictions = predictor.predict(texts)
    assert [p.label for p in predictions] == ["warning", "conciliatory", "neutral"]
    for p in predictions:
        assert sum(p.probabilities.values()) == pytest.approx(1.0)
        assert p.confidence == max(p.probabilities.values())
        assert list(p.probabilities) == list(LABELS)


def test_no_texts_gives_no_predictions(predictor):
    assert predictor.predict([]) == []
    assert predictor.probabilities([]).shape == (0, len(LABELS))


def test_tampered_model_file_is_refused(model_copy):
    model_dir, version_dir = model_copy
    with open(version_dir / MODEL_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        Predictor.load_current(model_dir)


def test_model_built_by_another_scikit_learn_is_refused(model_copy):
    model_dir, version_dir = model_copy
    metadata = json.loads((version_dir / METADATA_FILE).read_text())
    metadata["versions"]["scikit-learn"] = "0.24.2"
    (version_dir / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=r"built with scikit-learn 0\.24\.2.*make train"):
        Predictor.load_current(model_dir)


def test_missing_model_says_how_to_make_one(tmp_path):
    with pytest.raises(ArtifactError, match=r"no trained model .* run `make train`"):
        Predictor.load_current(tmp_path)


def test_current_is_switched_only_to_a_version_that_loads(model_copy):
    model_dir, version_dir = model_copy
    broken = model_dir / "broken"
    broken.mkdir()
    with pytest.raises(ArtifactError):
        promote(model_dir, "broken")
    assert current_version(model_dir) == version_dir.name


def test_the_search_prefers_the_simplest_model_within_one_standard_error():
    from training.train import simplest_within_one_standard_error

    results = {
        "params": [
            {"clf__C": 3.0, "tfidf__ngram_range": (1, 2)},
            {"clf__C": 10.0, "tfidf__ngram_range": (1, 1)},
            {"clf__C": 10.0, "tfidf__ngram_range": (1, 2)},
            {"clf__C": 30.0, "tfidf__ngram_range": (1, 2)},
        ],
        "mean_test_score": np.array([0.80, 0.906, 0.908, 0.910]),
        "std_test_score": np.array([0.01, 0.01, 0.01, 0.01]),  # one standard error: 0.0045
    }
    assert simplest_within_one_standard_error(results) == 1
    results["mean_test_score"] = np.array([0.80, 0.90, 0.908, 0.910])
    assert simplest_within_one_standard_error(results) == 2


def test_among_equals_the_search_keeps_fewer_rare_words():
    from training.train import simplest_within_one_standard_error

    results = {
        "params": [{"clf__C": 30.0, "tfidf__min_df": 1}, {"clf__C": 30.0, "tfidf__min_df": 2}],
        "mean_test_score": np.array([0.910, 0.909]),
        "std_test_score": np.array([0.01, 0.01]),
    }
    assert simplest_within_one_standard_error(results) == 1
