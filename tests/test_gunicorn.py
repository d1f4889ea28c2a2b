"""A real gunicorn serving the app over HTTP, as `make serve` runs it."""

import pytest
import requests

from .conftest import start_gunicorn, stop


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    process, base = start_gunicorn(model_dir, tmp_path_factory.mktemp("gunicorn"))
    try:
        yield base
    finally:
        stop(process)


def test_predict_over_http(server, predictor):
    response = requests.post(
        f"{server}/v1/predict",
        json={"texts": ["Beijing warned that the arms sale would seriously damage relations."]},
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == predictor.version
    assert body["predictions"][0]["label"] == "warning"


def test_readiness_and_model_over_http(server, predictor):
    assert requests.get(f"{server}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{server}/readyz", timeout=5).json()["model_version"] == predictor.version
    assert requests.get(f"{server}/v1/model", timeout=5).json()["version"] == predictor.version


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/nowhere", {}, 404),
        ("put", "/v1/predict", {"json": {"text": "x"}}, 405),
        (
            "post",
            "/v1/predict",
            {"data": "{broken", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("post", "/v1/predict", {"data": "text=hi"}, 415),
        ("post", "/v1/predict", {"json": {"texts": []}}, 422),
        (
            "post",
            "/v1/predict",
            {"data": b"[" * (2 * 1024 * 1024), "headers": {"content-type": "application/json"}},
            413,
        ),
    ],
)
def test_errors_over_http_are_problem_json(server, method, path, kwargs, status):
    response = requests.request(method, f"{server}{path}", timeout=10, **kwargs)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
