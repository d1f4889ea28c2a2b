"""Stance from Python (model/tagger.py) against the real trained model: calls, streams, columns."""

import math

import numpy as np
import pandas as pd
import pytest

import model
from model import LABELS, ArtifactError
from model.labels import SCORE_COLUMNS

from ..helpers import WARNING

OFFER = "We remain open to dialogue without preconditions."


@pytest.fixture(scope="module")
def tagger(model_dir):
    return model.load(model_dir)


def test_a_call_answers_like_a_hugging_face_pipeline(tagger, predictor):
    answers = tagger([WARNING, OFFER])
    assert [a["label"] for a in answers] == ["warning", "conciliatory"]
    expected = predictor.predict([WARNING, OFFER])
    assert [a["score"] for a in answers] == [p.confidence for p in expected]
    assert tagger(WARNING) == answers[:1]


def test_top_k_ranks_the_labels(tagger, predictor):
    (every,) = tagger(OFFER, top_k=None)
    assert sorted(a["label"] for a in every) == sorted(LABELS)
    scores = [a["score"] for a in every]
    assert scores == sorted(scores, reverse=True) and math.isclose(sum(scores), 1.0)
    assert every == predictor_ranked(predictor, OFFER)
    assert tagger(OFFER, top_k=2) == [every[:2]]
    with pytest.raises(ValueError, match="top_k"):
        tagger(OFFER, top_k=0)


def predictor_ranked(predictor, text):
    probabilities = predictor.predict([text])[0].probabilities
    return [
        {"label": label, "score": probabilities[label]}
        for label in sorted(probabilities, key=probabilities.get, reverse=True)
    ]


def test_empty_and_missing_texts_get_no_label(tagger):
    assert tagger(["", WARNING, "   ", None, float("nan")])[0] is None
    answers = tagger(["", WARNING, "   ", None, float("nan")])
    assert [a and a["label"] for a in answers] == [None, "warning", None, None, None]
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        tagger([WARNING, 7])


def test_pipe_streams_predictions_in_batches(tagger, predictor):
    def texts():
        for i in range(25):
            yield OFFER if i % 2 else ""

    stream = tagger.pipe(texts(), batch_size=4)
    assert next(stream) is None  # a generator: it has not read all 25 to answer the first
    rest = list(stream)
    # A batch is scored in numpy, one text in plain floats: equal within the fast path's 1e-9.
    alone = predictor.predict([OFFER])[0]
    assert len(rest) == 24 and rest[0].label == alone.label
    assert rest[0].probabilities == pytest.approx(alone.probabilities, abs=1e-9)
    assert [p is None for p in rest] == [i % 2 == 1 for i in range(24)]
    with pytest.raises(TypeError, match=r"texts\[6\]"):
        list(tagger.pipe([OFFER] * 6 + [b"bytes"], batch_size=4))


def test_pipe_explains_when_asked(tagger):
    (prediction,) = tagger.pipe([WARNING], explain=True)
    assert prediction.explanation.label == "warning"
    assert prediction.explanation == tagger.explain(WARNING)
    terms = {t.term for t in tagger.explain(WARNING).toward}
    assert "warn" in terms or any("warn" in term for term in terms)
    with pytest.raises(ValueError, match="empty"):
        tagger.explain("  ")


def test_score_labels_a_column_keeping_its_index(tagger, predictor):
    frame = pd.DataFrame(
        {"text": [WARNING, "", np.nan, OFFER, None], "source": list("abcde")},
        index=[10, 20, 30, 40, 50],
    )
    scored = tagger.score(frame["text"])
    assert list(scored.index) == [10, 20, 30, 40, 50]
    assert list(scored.columns) == ["label", "confidence", *(f"p_{label}" for label in LABELS)]
    assert scored["label"].fillna("-").tolist() == ["warning", "-", "-", "conciliatory", "-"]
    assert scored["label"].isna().tolist() == [False, True, True, False, True]
    assert scored.loc[[20, 30, 50]].drop(columns="label").isna().all().all()
    expected = predictor.probabilities([WARNING, OFFER])
    got = scored.loc[[10, 40], [f"p_{label}" for label in LABELS]].to_numpy()
    assert np.array_equal(got, expected)
    assert scored.loc[10, "confidence"] == expected[0].max()
    joined = frame.join(scored)
    assert joined["label"].value_counts().to_dict() == {"warning": 1, "conciliatory": 1}


def test_score_takes_a_plain_list_and_an_empty_column(tagger):
    assert tagger.score([OFFER])["label"].tolist() == ["conciliatory"]
    empty = tagger.score(pd.Series([], dtype=object))
    assert empty.empty and tuple(empty.columns) == SCORE_COLUMNS
    with pytest.raises(TypeError, match=r"texts\['b'\] is a float"):
        tagger.score(pd.Series([OFFER, 1.5], index=["a", "b"]))


def test_load_names_its_version_and_refuses_a_missing_one(tagger, model_dir, tmp_path):
    assert model.load(model_dir, version=tagger.version).version == tagger.version
    assert tagger.labels == LABELS and tagger.version in repr(tagger)
    with pytest.raises(ArtifactError, match="train"):
        model.load(tmp_path)
