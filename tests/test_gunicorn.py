"""A real gunicorn serving the app over HTTP, as `make serve` runs it."""

import os
import socket
import subprocess
import time

import pytest
import requests

from .conftest import BIN, ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(cli_env_module):
    port = free_port()
    process = subprocess.Popen(
        [BIN / "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "service.wsgi:app"],
        cwd=ROOT,
        env=cli_env_module,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or workers still booting
            pass
        assert process.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, "gunicorn never became ready"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cli_env_module(model_dir):
    return {**os.environ, "STANCE_MODEL_DIR": str(model_dir)}


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
