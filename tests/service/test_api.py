"""The REST API through Flask's test client: answers, limits, and every error as problem+json."""

import json

import pytest
from flask import jsonify

from model import LABELS
from service.api import json_answer
from service.app import create_app

from ..helpers import WARNING, assert_problem


def test_predict_answers_one_entry_per_text_in_order(client, predictor):
    texts = [WARNING, "We remain open to dialogue without preconditions.", "Talks open Monday."]
    response = client.post("/v1/predict", json={"texts": texts})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == predictor.version
    assert [p.as_dict() for p in predictor.predict(texts)] == body["predictions"]
    first = body["predictions"][0]
    assert first["label"] == "warning"
    assert list(first["probabilities"]) == list(LABELS)
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    assert first["confidence"] == max(first["probabilities"].values())


def test_a_single_text_is_accepted(client):
    response = client.post("/v1/predict", json={"text": WARNING})
    assert response.status_code == 200
    assert [p["label"] for p in response.get_json()["predictions"]] == ["warning"]


def test_model_endpoint_describes_the_model(client, predictor):
    body = client.get("/v1/model").get_json()
    assert body["version"] == predictor.version
    assert body["labels"] == list(LABELS)
    assert body["metrics"]["held_out"]["macro_f1"] > 0
    assert len(body["data"]["train_sha256"]) == 64
    assert body["trained_at"]


def test_health_and_readiness(client, predictor):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["model_version"] == predictor.version


def test_not_ready_without_a_model(tmp_path):
    client = create_app({"TESTING": True, "MODEL_DIR": str(tmp_path)}).test_client()
    assert client.get("/healthz").status_code == 200
    assert_problem(client.get("/readyz"), 503, "make train")
    assert_problem(client.post("/v1/predict", json={"text": WARNING}), 503, "No model")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 422, ['"texts"']),
        ({"texts": [], "text": "x"}, 422, ["not both"]),
        ({"texts": []}, 422, ["empty"]),
        ({"texts": "one statement"}, 422, ["array", "string"]),
        ({"texts": ["fine", 3]}, 422, ["texts[1]", "string", "number"]),
        ({"texts": ["fine", None]}, 422, ["texts[1]", "null"]),
        ({"texts": ["fine", "   "]}, 422, ["texts[1] is empty"]),
        ({"text": ""}, 422, ["text is empty"]),
        ({"text": ["a list"]}, 422, ['"text" must be a string', "array"]),
        ([WARNING], 422, ["JSON object", "array"]),
        ("just a string", 422, ["JSON object", "string"]),
    ],
)
def test_wrong_shapes_are_422_naming_the_problem(client, body, status, words):
    assert_problem(client.post("/v1/predict", json=body), status, *words)


def test_too_many_texts_and_too_long_a_text(client):
    assert_problem(
        client.post("/v1/predict", json={"texts": ["Talks resume."] * 1001}), 422, "1001", "1000"
    )
    assert_problem(client.post("/v1/predict", json={"text": "a" * 10_001}), 422, "10001", "10000")


def test_limits_are_configurable(model_dir):
    app = create_app({"TESTING": True, "MODEL_DIR": str(model_dir), "MAX_TEXTS": 2})
    response = app.test_client().post("/v1/predict", json={"texts": ["a b", "c d", "e f"]})
    assert_problem(response, 422, "at most 2")


def test_limits_come_from_the_environment(model_dir, monkeypatch):
    monkeypatch.setenv("STANCE_MAX_TEXT_CHARS", "20")
    app = create_app({"TESTING": True, "MODEL_DIR": str(model_dir)})
    assert_problem(app.test_client().post("/v1/predict", json={"text": "x" * 21}), 422, "20")


def test_malformed_json_is_400(client):
    response = client.post("/v1/predict", data='{"texts": [', content_type="application/json")
    assert_problem(response, 400, "not valid JSON")


def test_invalid_utf8_is_400(client):
    response = client.post("/v1/predict", data=b'{"text": "\xff"}', content_type="application/json")
    assert_problem(response, 400)


def test_deeply_nested_json_is_400_not_500(client):
    nested = "[" * 100_000 + "]" * 100_000
    response = client.post("/v1/predict", data=nested, content_type="application/json")
    assert_problem(response, 400, "nested too deeply")


def test_body_that_is_not_json_is_415(client):
    response = client.post("/v1/predict", data="texts=hello", content_type="text/plain")
    assert_problem(response, 415, "application/json", "text/plain")
    assert_problem(client.post("/v1/predict", data=json.dumps({"text": WARNING})), 415)


def test_json_suffix_content_types_are_accepted(client):
    response = client.post(
        "/v1/predict", data=json.dumps({"text": WARNING}), content_type="application/vnd.api+json"
    )
    assert response.status_code == 200


def test_body_over_the_size_limit_is_413(client):
    huge = json.dumps({"texts": ["word " * 2000] * 110})
    assert len(huge) > 1024 * 1024
    assert_problem(client.post("/v1/predict", data=huge, content_type="application/json"), 413)


def test_unknown_path_is_404_and_wrong_method_is_405(client):
    assert_problem(client.get("/v1/nothing-here"), 404)
    response = client.get("/v1/predict")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_an_unexpected_failure_is_a_500_problem_without_a_traceback(model_dir):
    app = create_app({"MODEL_DIR": str(model_dir)})

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in body["detail"]


SEED = "The U.S. has warned China against interfering in the elections."


def test_actors_are_added_on_request(client):
    plain = client.post("/v1/predict", json={"texts": [SEED]}).get_json()["predictions"][0]
    assert "actors" not in plain
    body = client.post("/v1/predict", json={"texts": [SEED], "actors": True}).get_json()
    prediction = body["predictions"][0]
    assert {k: v for k, v in prediction.items() if k != "actors"} == plain
    actors = prediction["actors"]
    assert (actors["speaker"], actors["target"]) == ("USA", "CHN")
    for hint in actors["hints"]:
        assert SEED[hint["start"] : hint["end"]] == hint["text"]


def test_analyze_gives_actors_per_sentence_with_document_offsets(client):
    document = (
        "Officials met on Monday. " + SEED + " Taiwan's presidential candidate Ko Wen-je "
        "expressed openness to discussions with Beijing."
    )
    body = client.post("/v1/analyze", json={"text": document, "actors": True}).get_json()
    dyads = [(s["actors"]["speaker"], s["actors"]["target"]) for s in body["sentences"]]
    assert dyads == [(None, None), ("USA", "CHN"), ("TWN", "CHN")]
    for sentence in body["sentences"]:
        for hint in sentence["actors"]["hints"]:
            assert document[hint["start"] : hint["end"]] == hint["text"]


def test_actors_must_be_a_boolean(client):
    response = client.post("/v1/predict", json={"texts": [SEED], "actors": "yes"})
    assert_problem(response, 422, '"actors"', "true or false")


def test_model_endpoint_maps_the_labels_to_event_codes(client):
    events = client.get("/v1/model").get_json()["event_data"]
    cameo = {row["code"]: row for row in events["cameo"]}
    assert sorted(cameo) == [f"{i:02d}" for i in range(1, 21)]
    assert cameo["13"]["label"] == "warning" and cameo["13"]["plover"] == ["THREATEN"]
    assert cameo["03"]["label"] == "conciliatory" and cameo["04"]["label"] == "neutral"
    assert cameo["01"]["plover"] == [] and cameo["02"]["plover"] == []
    plover = {row["type"]: row["label"] for row in events["plover"]}
    assert len(plover) == 16 and plover["ASSAULT"] == "depends"
    # Every PLOVER type a CAMEO root converts to is described, and every label is known.
    assert {t for row in events["cameo"] for t in row["plover"]} == set(plover)
    assert {row["label"] for row in events["cameo"]} == {*LABELS, "depends"}
    assert events["unmapped"]


def test_answers_are_encoded_as_jsonify_encodes_them(model_dir):
    app = create_app({"TESTING": True, "MODEL_DIR": str(model_dir)})
    value = {"model_version": "v", "predictions": [{"label": "warning", "b": 1, "a": "é"}]}
    with app.app_context():
        assert json_answer(value).get_data() == jsonify(value).get_data()
        app.json.sort_keys, app.json.ensure_ascii = True, False  # the app's settings are read
        assert json_answer(value).get_data() == jsonify(value).get_data()
