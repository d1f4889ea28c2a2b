"""What describing requests declaratively costs per request: the choice behind service/schemas.py.

    .venv/bin/pip install apiflask flask-smorest     # only for this study
    .venv/bin/python -m studies.validation_study [--requests 5000]

The same POST /v1/predict body with one text, through Flask's test client, on apps that differ
only in how the body is checked: not at all (json.loads only, the floor), by hand as Stance did
before (isinstance checks), by our pydantic model, by APIFlask (with a marshmallow schema, and
with the same pydantic model through its schema adapter), and by flask-smorest (marshmallow with
webargs). The views return a fixed answer, so the figures are the framework's cost alone. Each
figure is the CPU time (not wall time: the machine is shared) per request, the best of seven
round-robin runs of --requests requests, printed beside the floor. Then the checks alone on the
parsed body (timeit, best of seven), which is what each library adds whatever the framework.
"""

import argparse
import json
import time
import timeit
from collections.abc import Callable

from flask import Flask, jsonify, request

from service.schemas import Limits, predict_request, validated

BODY = json.dumps(
    {"texts": ["Beijing warned that the arms sale would seriously damage relations."]}
)
LIMITS = Limits(1000, 10_000, 100_000, 1000, 1024 * 1024)
ANSWER = {"model_version": "v", "predictions": []}


def floor_app() -> Flask:
    app = Flask(__name__)

    @app.post("/v1/predict")
    def predict():
        json.loads(request.get_data())
        return jsonify(ANSWER)

    return app


def by_hand(body: dict) -> None:
    """Stance's checks before pydantic (service/api.py texts_from and flag), in short."""
    assert isinstance(body, dict) and ("text" in body) != ("texts" in body)
    texts = [body["text"]] if "text" in body else body["texts"]
    assert isinstance(texts, list) and 0 < len(texts) <= 1000
    for text in texts:
        assert isinstance(text, str) and text.strip() and len(text) <= 10_000
    for name in ("explain", "actors"):
        assert isinstance(body.get(name, False), bool)


def by_hand_app() -> Flask:
    app = Flask(__name__)

    @app.post("/v1/predict")
    def predict():
        by_hand(json.loads(request.get_data()))
        return jsonify(ANSWER)

    return app


def pydantic_app() -> Flask:
    app = Flask(__name__)
    model = predict_request(LIMITS)

    @app.post("/v1/predict")
    def predict():
        validated(model, json.loads(request.get_data()))
        return jsonify(ANSWER)

    return app


def marshmallow_schema(base):
    from marshmallow import fields, validate

    text = fields.String(validate=[validate.Length(max=10_000), validate.Regexp(r"\S")])

    class PredictRequest(base):
        texts = fields.List(text, validate=validate.Length(min=1, max=1000))
        text_ = fields.String(data_key="text")
        explain = fields.Boolean(load_default=False)
        actors = fields.Boolean(load_default=False)

    return PredictRequest


def apiflask_app(with_pydantic: bool) -> Flask:
    from apiflask import APIFlask, Schema

    app = APIFlask(__name__, spec_path=None, docs_path=None)
    schema = predict_request(LIMITS) if with_pydantic else marshmallow_schema(Schema)

    @app.post("/v1/predict")
    @app.input(schema)
    def predict(json_data):
        return ANSWER

    return app


def smorest_app() -> Flask:
    from flask_smorest import Api, Blueprint
    from marshmallow import Schema

    app = Flask(__name__)
    app.config.update(API_TITLE="study", API_VERSION="1", OPENAPI_VERSION="3.1.0")
    api = Api(app)
    blueprint = Blueprint("api", __name__)
    schema = marshmallow_schema(Schema)

    @blueprint.post("/v1/predict")
    @blueprint.arguments(schema)
    def predict(body):
        return ANSWER

    api.register_blueprint(blueprint)
    return app


HEADERS = {"Content-Type": "application/json"}


def cpu_microseconds(client, requests: int) -> float:
    """CPU microseconds one request takes through the test client, over `requests` requests."""
    started = time.process_time()
    for _ in range(requests):
        client.post("/v1/predict", data=BODY, headers=HEADERS)
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    requests = parser.parse_args().requests
    candidates: list[tuple[str, Callable[[], Flask]]] = [
        ("json.loads only (the floor)", floor_app),
        ("by hand (before)", by_hand_app),
        ("pydantic model (service/schemas.py)", pydantic_app),
        ("APIFlask + marshmallow", lambda: apiflask_app(False)),
        ("APIFlask + the pydantic model", lambda: apiflask_app(True)),
        ("flask-smorest (marshmallow, webargs)", smorest_app),
    ]
    clients = {}
    for name, make in candidates:
        try:
            clients[name] = make().test_client()
        except ImportError as error:
            print(f"{name}: not installed ({error.name})")
            continue
        answer = clients[name].post("/v1/predict", data=BODY, headers=HEADERS)
        assert answer.status_code == 200, answer.get_data(as_text=True)
    # Round robin, so that a change in the machine's load falls on every candidate alike; the
    # best run is the one least disturbed by other work.
    runs: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(7):
        for name, client in clients.items():
            runs[name].append(cpu_microseconds(client, requests))
    floor = min(next(iter(runs.values())))
    print(f"{'POST /v1/predict, one text, test client':<42}{'CPU us/req':>11}{'over floor':>12}")
    for name, times in runs.items():
        print(f"{name:<42}{min(times):>11.1f}{min(times) - floor:>+12.1f}")
    print()
    validate_alone(requests * 10)


def validate_alone(repeats: int) -> None:
    """The checks alone, on the parsed body: what each costs without the framework around it."""
    body = json.loads(BODY)
    model = predict_request(LIMITS)
    checks: list[tuple[str, Callable[[], object]]] = [
        ("by hand (before)", lambda: by_hand(body)),
        ("pydantic model_validate", lambda: validated(model, body)),
    ]
    try:
        from marshmallow import Schema

        schema = marshmallow_schema(Schema)()
        checks.append(("marshmallow Schema.load", lambda: schema.load(body)))
    except ImportError:
        pass
    print(f"{'the checks alone, parsed body, one text':<42}{'us/body':>11}")
    for name, check in checks:
        best = min(timeit.repeat(check, number=repeats, repeat=7)) / repeats * 1e6
        print(f"{name:<42}{best:>11.2f}")


if __name__ == "__main__":
    main()
