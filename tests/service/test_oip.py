"""The Open Inference Protocol (KServe V2): the protocol's own examples, adapted to our tensor,
through the Flask client and over a real gunicorn."""

import numpy as np
import pytest
import requests

from model.labels import LABELS
from service.app import create_app

from ..helpers import WARNING, start_gunicorn, stop

OPEN = "We remain open to dialogue without preconditions."
INFER = "/v2/models/stance/infer"


def spec_example(texts: list[str], **extra) -> dict:
    """The specification's inference request example ("id": "42", inputs, requested outputs),
    with its tensors replaced by ours: one BYTES input named text."""
    return {
        "id": "42",
        "inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}],
        **extra,
    }


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    for word in words:
        assert word in body["error"]


def test_health_and_metadata_as_the_protocol_defines_them(client, predictor):
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    assert client.get("/v2/models/stance/ready").get_json() == {"name": "stance", "ready": True}
    server = client.get("/v2").get_json()
    assert server["name"] == "stance" and isinstance(server["extensions"], list)
    metadata = client.get("/v2/models/stance").get_json()
    assert metadata == {
        "name": "stance",
        "versions": [predictor.version],
        "platform": "sklearn",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ],
    }


def test_infer_answers_both_outputs_from_the_one_prediction_path(client, predictor):
    texts = [WARNING, OPEN]
    response = client.post(INFER, json=spec_example(texts))
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == "42"
    assert body["model_name"] == "stance" and body["model_version"] == predictor.version
    probabilities, label = body["outputs"]
    assert probabilities["name"] == "probabilities" and probabilities["datatype"] == "FP64"
    assert probabilities["shape"] == [2, len(LABELS)]
    expected = predictor.probabilities(texts)
    assert np.array(probabilities["data"]).reshape(2, 3).tolist() == expected.tolist()
    assert label == {
        "name": "label",
        "shape": [2],
        "datatype": "BYTES",
        "data": ["warning", "conciliatory"],
    }
    assert label["data"] == [p.label for p in predictor.predict(texts)]


def test_only_the_requested_outputs_are_answered(client):
    # As in the specification's example, which asks for one output by name.
    body = client.post(INFER, json=spec_example([WARNING], outputs=[{"name": "label"}])).get_json()
    assert [output["name"] for output in body["outputs"]] == ["label"]
    assert body["outputs"][0]["data"] == ["warning"]


def test_without_an_id_none_is_answered_and_a_column_shape_is_accepted(client):
    request = {
        "inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [WARNING, OPEN]}]
    }
    body = client.post(INFER, json=request).get_json()
    assert "id" not in body
    assert body["outputs"][1]["data"] == ["warning", "conciliatory"]


def test_a_body_without_a_content_type_is_read_as_json(client):
    import json

    response = client.post(INFER, data=json.dumps(spec_example([OPEN])))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("request_body", "status", "words"),
    [
        # The specification's own request, unchanged: its tensors are not this model's.
        (
            {
                "id": "42",
                "inputs": [
                    {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
                    {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [True]},
                ],
                "outputs": [{"name": "output0"}],
            },
            400,
            ["inputs"],
        ),
        (spec_example([WARNING, "  "]), 400, ["inputs[0].data[1] is empty"]),
        (spec_example([WARNING]) | {"outputs": [{"name": "output0"}]}, 400, ["outputs[0].name"]),
        (
            {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": [OPEN]}]},
            400,
            ["shape [3]", "1 elements"],
        ),
        (
            {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [OPEN]}]},
            400,
            ["datatype"],
        ),
        ({"inputs": []}, 400, ['"inputs" is empty']),
        ([], 400, ["JSON object"]),
    ],
)
def test_bad_requests_are_400_with_the_protocols_error_object(client, request_body, status, words):
    assert_error(client.post(INFER, json=request_body), status, *words)


def test_other_errors_keep_their_status_in_the_protocols_shape(client, model_dir):
    assert_error(client.post("/v2/models/other/infer", json=spec_example([OPEN])), 404, "other")
    assert_error(client.get("/v2/models/other"), 404, "stance")
    assert_error(client.post(INFER, data="{", content_type="application/json"), 400, "JSON")
    assert_error(client.post(INFER, data="x", content_type="text/plain"), 415)
    small = create_app({"TESTING": True, "MODEL_DIR": str(model_dir), "MAX_TEXTS": 1})
    too_many = small.test_client().post(INFER, json=spec_example([OPEN, WARNING]))
    assert_error(too_many, 400, "at most 1")


def test_without_a_model_the_server_is_live_but_not_ready(tmp_path):
    client = create_app({"TESTING": True, "MODEL_DIR": str(tmp_path)}).test_client()
    assert client.get("/v2/health/live").status_code == 200
    assert_error(client.get("/v2/health/ready"), 503, "make train")
    assert client.get("/v2/models/stance/ready").get_json() == {"name": "stance", "ready": False}
    assert_error(client.post(INFER, json=spec_example([OPEN])), 503, "No model")


@pytest.mark.slow
@pytest.mark.server
def test_infer_over_a_real_gunicorn(model_dir, tmp_path, predictor):
    process, base = start_gunicorn(model_dir, tmp_path, workers=1)
    try:
        answer = requests.post(base + INFER, json=spec_example([WARNING, OPEN]), timeout=30)
        assert answer.status_code == 200
        assert answer.headers["X-Model-Version"] == predictor.version
        body = answer.json()
        assert body["id"] == "42"
        assert body["outputs"][1]["data"] == ["warning", "conciliatory"]
        refused = requests.post(base + INFER, json={"inputs": []}, timeout=30)
        assert refused.status_code == 400 and set(refused.json()) == {"error"}
    finally:
        stop(process)
