"""A real gunicorn serving the app over HTTP, as `make serve` runs it."""

import json
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service.headers import CONTENT_SECURITY_POLICY

from ..helpers import WARNING, start_gunicorn, stop


def test_predict_over_http(server, predictor):
    response = requests.post(
        f"{server}/v1/predict",
        json={"texts": [WARNING]},
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


def raw_exchange(base: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are over a socket; return the status, headers and body of the answer."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        # Read one answer: headers, then Content-Length bytes (the server may keep the line open).
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {answer!r}"
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        while len(body) < int(headers["content-length"]):
            chunk = sock.recv(65536)
            assert chunk, "connection closed mid-body"
            body += chunk
    return int(status_line.split()[1]), headers, body


def request_bytes(head: str, body: bytes = b"") -> bytes:
    return head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body


JSON_POST = "POST /v1/predict HTTP/1.1\nHost: x\nContent-Type: application/json\n"


def chunked(body: bytes, size: int = 65536) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


# Item 6: what gunicorn refuses before the app sees it is problem+json too.


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (request_bytes("GET /" + "a" * 5000 + " HTTP/1.1\nHost: x\n"), 414),
        (request_bytes("GET /healthz HTTP/1.1\nHost: x\nX-Big: " + "a" * 9000 + "\n"), 431),
        (
            request_bytes(
                "GET /healthz HTTP/1.1\nHost: x\n" + "".join(f"X-H{i}: 1\n" for i in range(120))
            ),
            431,
        ),
        (request_bytes("GARBAGE\n"), 400),
        (request_bytes("GET /healthz HTTP/9.9\nHost: x\n"), 400),
        (request_bytes(JSON_POST + "Content-Length: -5\n"), 400),
        (request_bytes(JSON_POST + "Content-Length: 5\nContent-Length: 6\n", b"{}"), 400),
    ],
    ids=[
        "url-over-4k",
        "header-too-big",
        "too-many-headers",
        "bad-line",
        "bad-version",
        "negative-length",
        "two-lengths",
    ],
)
def test_requests_gunicorn_refuses_get_problem_json(server, data, status):
    answer_status, headers, body = raw_exchange(server, data)
    assert answer_status == status
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    assert set(problem) == {"type", "title", "status", "detail"}
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])


# Item 5: chunked bodies have the same limit, and a broken one is the client's error.


def test_a_chunked_body_over_the_limit_is_413(server):
    body = json.dumps({"texts": [WARNING] * 50_000}).encode()  # about 3.5 MiB
    data = request_bytes(
        JSON_POST + "Transfer-Encoding: chunked\nConnection: close\n", chunked(body)
    )
    status, headers, answer = raw_exchange(server, data)
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(answer)["status"] == 413


def test_a_chunked_body_within_the_limit_is_served(server):
    body = json.dumps({"texts": [WARNING] * 100}).encode()
    data = request_bytes(
        JSON_POST + "Transfer-Encoding: chunked\nConnection: close\n", chunked(body)
    )
    status, _, answer = raw_exchange(server, data)
    assert status == 200
    assert len(json.loads(answer)["predictions"]) == 100


def test_a_malformed_chunk_size_is_400(server):
    data = request_bytes(JSON_POST + "Transfer-Encoding: chunked\n", b"zz\r\n{}\r\n0\r\n\r\n")
    status, headers, answer = raw_exchange(server, data)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert "chunk" in json.loads(answer)["detail"]


def test_a_utf16_body_is_400_over_http(server):
    body = json.dumps({"text": WARNING}).encode("utf-16")
    response = requests.post(
        f"{server}/v1/predict", data=body, headers={"content-type": "application/json"}, timeout=10
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


# Items 8 and 11 over HTTP: headers and request ids; the server log is JSON lines.


def test_answers_over_http_carry_the_headers_and_request_id(server):
    response = requests.post(
        f"{server}/v1/predict",
        json={"text": WARNING},
        headers={"X-Request-ID": "http-1"},
        timeout=10,
    )
    assert response.headers["X-Request-ID"] == "http-1"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_server_log_is_json_lines_with_ids_and_no_texts(server, server_folder):
    secret = "Ruritania will answer the turnip tariff in kind."
    for number in range(3):
        requests.post(
            f"{server}/v1/predict",
            json={"text": secret},
            headers={"X-Request-ID": f"log-{number}"},
            timeout=10,
        )
    time.sleep(0.5)  # the workers write their lines as they answer; let them land
    text = (server_folder / "server.log").read_text()
    assert "Ruritania" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    ours = {line.get("request_id"): line for line in lines if line["logger"] == "service.requests"}
    for number in range(3):
        line = ours[f"log-{number}"]
        assert line["route"] == "/v1/predict"
        assert line["status"] == 200
        assert line["duration_ms"] > 0
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own, as JSON
    # One line a request, the app's: gunicorn's access log is off (service.server.Logger).
    assert not [line for line in lines if line["logger"] == "gunicorn.access"]
    assert sum(str(line.get("request_id")).startswith("log-") for line in lines) == 3


# Item 10: /metrics adds up every worker's counts (prometheus_client multiprocess mode).


def metric(base: str, name: str, **labels: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                total += found.value
    return total


def test_metrics_add_up_across_workers(server, predictor):
    name, labels = "stance_http_requests_total", {"route": "/v1/analyze", "status": "200"}
    before = metric(server, name, **labels)
    document = f"{WARNING} We remain open to dialogue without preconditions."
    with requests.Session() as one, requests.Session() as other:
        for number in range(20):
            session = one if number % 2 else other  # two kept-alive lines: both workers answer
            response = session.post(f"{server}/v1/analyze", json={"text": document}, timeout=10)
            assert response.status_code == 200
    assert metric(server, name, **labels) - before == 20
    assert metric(server, "stance_texts_per_request_count", route="/v1/analyze") >= 20
    assert metric(server, "stance_predictions_total", label="warning") >= 20
    assert metric(server, "stance_model_info", version=predictor.version) == 1
    assert metric(server, "stance_model_loads_total", outcome="loaded") == 2  # one per worker


@pytest.mark.server
def test_each_run_starts_with_empty_metrics_and_cleans_up(model_dir, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"left by an earlier run")
    process, base = start_gunicorn(
        model_dir, tmp_path, workers=1, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    )
    try:
        assert not (folder / "counter_99999.db").exists()
        assert metric(base, "stance_http_requests_total", route="/v1/predict") == 0
    finally:
        stop(process)
    # Without a folder of its own, the server makes one and removes it on exit.
    process, base = start_gunicorn(model_dir, tmp_path, workers=1)
    try:
        lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines()]
        made = [line["message"].split()[-1] for line in lines if "metrics in" in line["message"]]
        assert Path(made[-1]).is_dir()
    finally:
        stop(process)
    assert not Path(made[-1]).exists()
