"""The REST API: parse the request, call the one prediction path, shape the answer."""

import json
from collections import Counter
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnprocessableEntity,
    UnsupportedMediaType,
)

from model.actors import actors_of
from model.document import analyze
from model.labels import event_data_map
from service import metrics
from service.app import ModelSlot, get_predictor

api = Blueprint("api", __name__)


def read_json_object() -> dict[str, Any]:
    """Return the request body as a JSON object, or raise the 4xx that says what is wrong."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Send the body as JSON with Content-Type: application/json (got {mimetype or 'none'})."
        )
    try:
        # JSON is UTF-8 only: json.loads would also guess UTF-16 and UTF-32 from bytes. A UTF-8
        # byte order mark is tolerated (RFC 8259 allows ignoring it).
        body = json.loads(read_body().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BadRequest("The body is not valid UTF-8.") from None
    except RecursionError:
        raise BadRequest("The JSON body is nested too deeply.") from None
    except ValueError as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None
    if not isinstance(body, dict):
        raise UnprocessableEntity(
            f'The body must be a JSON object such as {{"texts": ["..."]}}, not a {json_type(body)}.'
        )
    return body


def read_body() -> bytes:
    """Return the request body, or raise 413 over MAX_CONTENT_LENGTH and 400 if it is unreadable."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        if request.content_length is None and request.environ.get("wsgi.input_terminated"):
            # A chunked body has no length to check up front, and werkzeug's stream silently
            # stops at the limit: read one byte more than allowed to tell "over" from "at".
            raw = request.input_stream.read(limit + 1)
            if len(raw) > limit:
                raise RequestEntityTooLarge()
            return raw
        return request.get_data(cache=True)  # over MAX_CONTENT_LENGTH this raises 413
    except HTTPException:
        raise
    except Exception as error:  # the server could not decode the body, e.g. a bad chunk size
        raise BadRequest(f"The body could not be read: {error}.") from None


def texts_from(body: dict[str, Any]) -> list[str]:
    """Return the statements of a predict request, checked against the configured limits."""
    if ("text" in body) == ("texts" in body):
        raise UnprocessableEntity('Send either "texts": ["...", ...] or "text": "...", not both.')
    single = "text" in body
    texts = [body["text"]] if single else body["texts"]
    if not isinstance(texts, list):
        raise UnprocessableEntity(f'"texts" must be an array of strings, not a {json_type(texts)}.')
    max_texts, max_chars = current_app.config["MAX_TEXTS"], current_app.config["MAX_TEXT_CHARS"]
    if not texts:
        raise UnprocessableEntity('"texts" is empty: send at least one statement.')
    if len(texts) > max_texts:
        raise UnprocessableEntity(
            f'"texts" has {len(texts)} statements; at most {max_texts} are allowed per request.'
        )
    for index, text in enumerate(texts):
        name = "text" if single else f"texts[{index}]"
        if not isinstance(text, str):
            raise UnprocessableEntity(f"{name} must be a string, not a {json_type(text)}.")
        if not text.strip():
            raise UnprocessableEntity(f"{name} is empty.")
        if len(text) > max_chars:
            raise UnprocessableEntity(
                f"{name} has {len(text)} characters; at most {max_chars} are allowed."
            )
    return texts


def flag(body: dict[str, Any], name: str) -> bool:
    """Return an optional switch ("explain", "actors"), which must be a JSON boolean."""
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise UnprocessableEntity(f'"{name}" must be true or false, not a {json_type(value)}.')
    return value


def document_from(body: dict[str, Any]) -> str:
    """Return the document of an analyze request, checked against the configured limit."""
    if "text" not in body:
        raise UnprocessableEntity('Send the document as "text": "...".')
    text = body["text"]
    if not isinstance(text, str):
        raise UnprocessableEntity(f"text must be a string, not a {json_type(text)}.")
    if not text.strip():
        raise UnprocessableEntity("text is empty.")
    max_chars = current_app.config["MAX_DOCUMENT_CHARS"]
    if len(text) > max_chars:
        raise UnprocessableEntity(
            f"text has {len(text)} characters; at most {max_chars} are allowed."
        )
    return text


def json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


@api.post("/v1/predict")
def predict():
    body = read_json_object()
    texts, explain, actors = texts_from(body), flag(body, "explain"), flag(body, "actors")
    predictor = get_predictor()
    calls = predictor.predict(texts, explain=explain)
    count_labels(p.label for p in calls)
    predictions = [p.as_dict() for p in calls]
    if actors:
        for text, prediction in zip(texts, predictions, strict=True):
            prediction["actors"] = actors_of(text)
    return jsonify(model_version=predictor.version, predictions=predictions)


@api.post("/v1/analyze")
def analyze_document():
    body = read_json_object()
    text, explain, actors = document_from(body), flag(body, "explain"), flag(body, "actors")
    analysis = analyze(get_predictor(), text, explain=explain, actors=actors)
    count_labels(call.prediction.label for call in analysis.sentences)
    return jsonify(analysis.as_dict())


def count_labels(labels) -> None:
    """Count a request's labels and its number of texts (or sentences) for /metrics."""
    counts = Counter(labels)
    for label, count in counts.items():  # one metric update per label, not per text
        metrics.PREDICTIONS.labels(label).inc(count)
    metrics.TEXTS.labels(request.url_rule.rule).observe(counts.total())


@api.get("/v1/model")
def model_info():
    metadata = get_predictor().metadata
    return jsonify(
        version=metadata["version"],
        labels=metadata["labels"],
        trained_at=metadata["trained_at"],
        metrics=metadata["metrics"],
        data=metadata["data"],
        params=metadata["params"],
        library_versions=metadata["versions"],
        event_data=event_data_map(),
    )


@api.get("/healthz")
def healthz():
    return jsonify(status="ok")


@api.get("/readyz")
def readyz():
    slot: ModelSlot = current_app.extensions["stance"]
    predictor = get_predictor()  # 503 until a model is loaded and verified
    return jsonify(status="ready", model_version=predictor.version, model_dir=str(slot.model_dir))
