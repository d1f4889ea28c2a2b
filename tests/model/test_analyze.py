"""Whole documents and explanations: /v1/analyze, "explain", and `stance analyze`."""

import json
import subprocess

import numpy as np
import pytest

from model import LABELS
from model.document import analyze
from service.app import create_app
from service.cli import main

from ..helpers import BIN, assert_problem

ARTICLE = (
    "GENEVA (Reuters) - The U.S. warned Iran on Tuesday that further enrichment would bring "
    "new sanctions.\n\nTehran said it remained open to talks and thanked Oman for its "
    'mediation. "We do not seek confrontation," the spokesman said. The next round is '
    "scheduled for Jan. 5 in Muscat."
)


def test_explanations_add_up_to_the_models_own_logits(predictor):
    texts = [
        ARTICLE,
        "We condemn the missile launch.",
        "Both sides agreed to a ceasefire.",
        "zzz qqq",  # no known term: the logit is the intercept alone
    ]
    predictions = predictor.predict(texts, explain=True)
    pipeline = predictor.pipeline
    logits = pipeline.named_steps["clf"].decision_function(
        pipeline.named_steps["tfidf"].transform(texts)
    )
    for i, prediction in enumerate(predictions):
        explanation = prediction.explanation
        k = LABELS.index(prediction.label)
        assert explanation.label == prediction.label
        total = explanation.intercept + sum(
            t.weight for t in (*explanation.toward, *explanation.against)
        )
        assert total == pytest.approx(logits[i, k], abs=1e-9)
        assert explanation.logit == pytest.approx(logits[i, k], abs=1e-12)
        assert all(t.weight > 0 for t in explanation.toward)
        assert all(t.weight < 0 for t in explanation.against)
        weights = [abs(t.weight) for t in explanation.toward]
        assert weights == sorted(weights, reverse=True)
    assert predictions[3].explanation.toward == predictions[3].explanation.against == ()


def test_explanations_name_readable_terms(predictor):
    [prediction] = predictor.predict(["We strongly condemn the provocation."], explain=True)
    terms = [t.term for t in prediction.explanation.toward]
    assert prediction.label == "warning"
    assert "condemn" in terms[:5]


def test_explain_does_not_change_the_call(predictor):
    texts = ["We condemn the attack.", "Talks resume Monday."]
    plain, explained = predictor.predict(texts), predictor.predict(texts, explain=True)
    for a, b in zip(plain, explained, strict=True):
        assert (a.label, a.probabilities) == (b.label, b.probabilities)


def test_analyze_gives_offsets_into_the_original_text(predictor):
    analysis = analyze(predictor, ARTICLE)
    assert len(analysis.sentences) == 4
    for call in analysis.sentences:
        s = call.sentence
        assert ARTICLE[s.start : s.end] == s.text
    labels = [call.prediction.label for call in analysis.sentences]
    assert labels[0] == "warning" and labels[1] == "conciliatory" and labels[3] == "neutral"


def test_tone_is_mean_conciliatory_minus_mean_warning(predictor):
    analysis = analyze(predictor, ARTICLE)
    summary = analysis.summary()
    p = np.array([[c.prediction.probabilities[k] for k in LABELS] for c in analysis.sentences])
    expected = p[:, 0].mean() - p[:, 2].mean()
    assert summary["tone"] == pytest.approx(expected, abs=1e-4)
    assert -1 <= summary["tone"] <= 1
    assert sum(summary["counts"].values()) == 4
    assert sum(summary["shares"].values()) == pytest.approx(1.0)


def test_analyze_endpoint(client, predictor):
    response = client.post("/v1/analyze", json={"text": ARTICLE, "explain": True})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == predictor.version
    assert body == json.loads(json.dumps(analyze(predictor, ARTICLE, explain=True).as_dict()))
    for sentence in body["sentences"]:
        assert ARTICLE[sentence["start"] : sentence["end"]] == sentence["text"]
        assert set(sentence) == {
            "text",
            "start",
            "end",
            "label",
            "confidence",
            "probabilities",
            "explanation",
        }
    assert set(body["summary"]) == {"counts", "shares", "tone"}


def test_predict_with_explain(client):
    response = client.post("/v1/predict", json={"texts": ["We condemn it."], "explain": True})
    explanation = response.get_json()["predictions"][0]["explanation"]
    assert set(explanation) == {"label", "logit", "intercept", "toward", "against"}
    assert (
        "explanation"
        not in client.post("/v1/predict", json={"text": "We condemn it."}).get_json()[
            "predictions"
        ][0]
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ['"text"']),
        ({"text": 5}, ["string", "number"]),
        ({"text": " \n "}, ["empty"]),
        ({"text": "fine", "explain": "yes"}, ['"explain"', "true or false"]),
    ],
)
def test_analyze_errors_are_problem_json(client, body, words):
    assert_problem(client.post("/v1/analyze", json=body), 422, *words)


def test_analyze_length_limit_is_configurable(model_dir, client):
    assert_problem(client.post("/v1/analyze", json={"text": "a. " * 40_000}), 422, "100000")
    small = create_app({"TESTING": True, "MODEL_DIR": str(model_dir), "MAX_DOCUMENT_CHARS": 50})
    response = small.test_client().post("/v1/analyze", json={"text": "x" * 51})
    assert_problem(response, 422, "at most 50")


def test_analyze_rejects_what_predict_rejects(client):
    assert_problem(client.post("/v1/analyze", data="plain", content_type="text/plain"), 415)
    assert_problem(client.post("/v1/analyze", data="{", content_type="application/json"), 400)
    assert_problem(client.get("/v1/analyze"), 405)


def test_cli_analyze_prints_a_table(runner, tmp_path):
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    result = runner.invoke(main, ["analyze", str(article)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("warning")
    assert lines[-1].startswith("4 sentences:") and "tone" in lines[-1]


def test_cli_analyze_json_matches_the_api(runner, client, tmp_path):
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    result = runner.invoke(main, ["analyze", "--json", "--explain", str(article)])
    assert result.exit_code == 0
    api = client.post("/v1/analyze", json={"text": ARTICLE, "explain": True}).get_json()
    assert json.loads(result.output) == api


def test_cli_analyze_from_stdin_as_a_subprocess(cli_env):
    completed = subprocess.run(
        [BIN / "stance", "analyze", "-", "--explain"],
        input=ARTICLE,
        capture_output=True,
        text=True,
        env=cli_env,
        check=True,
    )
    assert "toward:" in completed.stdout and "4 sentences" in completed.stdout


def test_cli_analyze_bad_input(runner, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    result = runner.invoke(main, ["analyze", str(empty)])
    assert result.exit_code == 2 and "the document is empty" in result.output
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    result = runner.invoke(main, ["analyze", str(binary)])
    assert result.exit_code == 2 and "not UTF-8" in result.output
    missing = runner.invoke(main, ["analyze", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "No such file or directory" in missing.output


def test_cli_predict_explain(runner):
    result = runner.invoke(main, ["predict", "--explain", "We condemn the attack."])
    assert result.exit_code == 0
    assert "toward: condemn" in result.output or "condemn (+" in result.output
