"""The app's own defences, through the Flask test client: headers, request ids, JSON logs, the
500 log, UTF-8 only, /metrics, and the bounds on /v1/feedback. The same things over a real
gunicorn, and what only the server can do, are in test_gunicorn.py and test_slow_clients.py."""

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.headers import CONTENT_SECURITY_POLICY
from service.logs import JsonFormatter

from ..helpers import WARNING, assert_problem

SECRET_TEXT = "Zanzibar will regret the quartz embargo."


@pytest.fixture
def feedback_client(model_dir, tmp_path):
    def make(**config):
        app = create_app(
            {
                "TESTING": True,
                "MODEL_DIR": str(model_dir),
                "FEEDBACK_DB": str(tmp_path / "feedback.sqlite3"),
                **config,
            }
        )
        clients.append(app)
        return app.test_client()

    clients: list = []
    yield make
    for app in clients:
        app.extensions["stance_feedback"].close()


def correction(text: str = WARNING) -> dict:
    return {"text": text, "label": "warning"}


# Item 8: security headers on every answer, API and errors included.


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/predict", {"text": WARNING}),
        ("post", "/v1/predict", {"texts": []}),
        ("post", "/v1/analyze", {"text": WARNING}),
        ("get", "/v1/model", None),
        ("get", "/healthz", None),
        ("get", "/readyz", None),
        ("get", "/metrics", None),
        ("get", "/nowhere", None),
        ("get", "/", None),
    ],
)
def test_every_answer_carries_the_security_headers(client, method, path, body):
    response = getattr(client, method)(path, json=body)
    response.close()  # the page is a file response
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Referrer-Policy"] == "no-referrer"
    if path != "/":  # the page's files keep their own revalidation headers
        assert response.headers["Cache-Control"] == "no-store"


# Item 11: request ids.


def test_a_sane_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "trace-42.a:b_c"})
    assert response.headers["X-Request-ID"] == "trace-42.a:b_c"


@pytest.mark.parametrize("sent", [None, "", "x" * 200, "two words", "<script>", "é"])
def test_a_missing_or_odd_request_id_is_replaced(client, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    second = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert first != sent
    assert len(first) == 32 and first.isalnum()
    assert first != second


def test_errors_carry_a_request_id_too(client):
    response = client.post("/v1/predict", json={"texts": []}, headers={"X-Request-ID": "r-1"})
    assert_problem(response, 422)
    assert response.headers["X-Request-ID"] == "r-1"


# Item 11: one JSON line per request, never the texts.


def json_lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records]


def test_each_request_is_one_json_line_without_the_texts(client, caplog):
    caplog.set_level(logging.INFO)
    client.post("/v1/predict", json={"text": SECRET_TEXT}, headers={"X-Request-ID": "log-1"})
    client.post("/v1/feedback", json={"text": SECRET_TEXT, "label": 3})
    lines = json_lines(caplog)
    request_lines = [line for line in lines if line["logger"] == "service.requests"]
    assert [line["status"] for line in request_lines] == [200, 422]
    first = request_lines[0]
    assert first["request_id"] == "log-1"
    assert first["route"] == "/v1/predict"
    assert first["method"] == "POST"
    assert first["duration_ms"] >= 0
    assert "Zanzibar" not in caplog.text
    assert all("Zanzibar" not in json.dumps(line) for line in lines)


# Item 7: a 500 leaves its traceback in the log, with the request id.


def test_a_500_logs_its_traceback_with_the_request_id(model_dir, caplog):
    app = create_app({"MODEL_DIR": str(model_dir)})

    @app.get("/boom")
    def boom():
        raise RuntimeError("internal detail")

    response = app.test_client().get("/boom", headers={"X-Request-ID": "boom-1"})
    assert_problem(response, 500)
    assert "internal detail" not in response.get_data(as_text=True)
    assert response.headers["X-Request-ID"] == "boom-1"
    errors = [line for line in json_lines(caplog) if line["level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "boom-1"
    assert "Traceback" in errors[0]["traceback"]
    assert "RuntimeError: internal detail" in errors[0]["traceback"]


# Item 5: JSON in UTF-8 only.


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_utf16_and_utf32_bodies_are_400(client, encoding):
    body = json.dumps({"text": WARNING}).encode(encoding)
    response = client.post("/v1/predict", data=body, content_type="application/json")
    assert_problem(response, 400)


def test_utf8_with_or_without_a_byte_order_mark_is_accepted(client):
    body = json.dumps({"text": WARNING}).encode("utf-8")
    for data in (body, b"\xef\xbb\xbf" + body):
        response = client.post("/v1/predict", data=data, content_type="application/json")
        assert response.status_code == 200


# Item 10: /metrics (one process here; the multiprocess sum is tested over gunicorn).


def sample(text: str, name: str, **labels: str) -> float:
    """Return the value of one sample in a Prometheus text exposition (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


def test_metrics_count_requests_predictions_and_texts(client, predictor):
    before = client.get("/metrics").get_data(as_text=True)
    client.post("/v1/predict", json={"texts": [WARNING, WARNING, "Talks open on Monday."]})
    client.post("/v1/predict", json={"texts": []})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    after = response.get_data(as_text=True)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    route = {"route": "/v1/predict"}
    assert grew("stance_http_requests_total", **route, method="POST", status="200") == 1
    assert grew("stance_http_requests_total", **route, method="POST", status="422") == 1
    assert grew("stance_http_request_duration_seconds_count", **route) == 2
    assert grew("stance_predictions_total", label="warning") == 2
    assert grew("stance_texts_per_request_sum", **route) == 3
    assert sample(after, "stance_model_info", version=predictor.version) == 1
    assert sample(after, "stance_model_loads_total", outcome="loaded") >= 1


def test_unmatched_paths_share_one_metrics_label(client):
    client.get("/some/random/path/123")
    text = client.get("/metrics").get_data(as_text=True)
    assert "random" not in text
    assert sample(text, "stance_http_requests_total", route="unmatched", status="404") >= 1


# Item 9: /v1/feedback is bounded.


def test_feedback_is_rate_limited_per_client(feedback_client):
    client = feedback_client(FEEDBACK_PER_MINUTE=3)
    for _ in range(3):
        assert client.post("/v1/feedback", json=correction()).status_code == 201
    refused = client.post("/v1/feedback", json=correction())
    assert_problem(refused, 429, "3 corrections a minute")
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    other = client.post("/v1/feedback", json=correction(), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 201


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(feedback_client):
    client = feedback_client(FEEDBACK_PER_MINUTE=1, TRUSTED_PROXIES=1)
    first = {"X-Forwarded-For": "203.0.113.5"}
    assert client.post("/v1/feedback", json=correction(), headers=first).status_code == 201
    assert client.post("/v1/feedback", json=correction(), headers=first).status_code == 429
    second = {"X-Forwarded-For": "203.0.113.6"}
    assert client.post("/v1/feedback", json=correction(), headers=second).status_code == 201


def test_feedback_stops_with_503_once_the_store_is_full(feedback_client, tmp_path):
    client = feedback_client(FEEDBACK_MAX_BYTES=64 * 1024)
    big = "Talks resume next week on the border question. " * 200  # about 9 KB per row
    statuses = [client.post("/v1/feedback", json=correction(big)).status_code for _ in range(20)]
    assert statuses[0] == 201
    assert set(statuses) == {201, 503}
    assert statuses.index(503) == statuses.count(201)  # once full, it stays full
    assert_problem(client.post("/v1/feedback", json=correction()), 503, "full")
    store = tmp_path / "feedback.sqlite3"
    assert store.stat().st_size < 64 * 1024 + 2 * len(big) + 32 * 1024


def test_a_feedback_token_is_required_once_set(feedback_client):
    client = feedback_client(FEEDBACK_TOKEN="s3cret")
    assert_problem(client.post("/v1/feedback", json=correction()), 401, "Bearer")
    wrong = {"Authorization": "Bearer nope"}
    assert_problem(client.post("/v1/feedback", json=correction(), headers=wrong), 403)
    right = {"Authorization": "Bearer s3cret"}
    assert client.post("/v1/feedback", json=correction(), headers=right).status_code == 201


def test_the_feedback_token_is_read_as_a_plain_string(feedback_client, monkeypatch):
    monkeypatch.setenv("STANCE_FEEDBACK_TOKEN", "1e3")  # as JSON this would be 1000.0
    client = feedback_client()
    assert client.post("/v1/feedback", json=correction()).status_code == 401
    right = {"Authorization": "Bearer 1e3"}
    assert client.post("/v1/feedback", json=correction(), headers=right).status_code == 201
