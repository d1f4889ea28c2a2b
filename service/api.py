"""The REST API: take the validated request, call the one prediction path, shape the answer."""

import functools
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from model.actors import actors_of
from model.document import analyze
from model.function_words import FUNCTION_WORDS
from model.labels import event_data_map
from service import metrics
from service.model_slot import get_model_slot, get_predictor
from service.openapi import operation
from service.schemas import (
    AnalyzeResponse,
    Health,
    ModelInfo,
    PredictResponse,
    Ready,
    analyze_request,
    limits,
    predict_request,
)

api = Blueprint("api", __name__)


@functools.cache
def _encoder(ensure_ascii: bool, sort_keys: bool) -> Callable[[Any], str]:
    # Made once per setting: json.dumps with options, and jsonify's provider, build a new
    # encoder for every call. The answers hold only JSON's own types.
    return json.JSONEncoder(
        ensure_ascii=ensure_ascii, sort_keys=sort_keys, separators=(",", ":")
    ).encode


def json_answer(value: Any) -> Response:
    """Return value as an application/json answer, byte for byte what jsonify(value) gives.

    With the app's own JSON settings (app.json), compact as outside debug mode, a final newline.
    """
    provider = current_app.json
    encode = _encoder(provider.ensure_ascii, provider.sort_keys)
    return current_app.response_class(encode(value) + "\n", mimetype="application/json")


@api.post("/v1/predict")
@operation(
    "Label one statement or a batch of statements",
    tag="model",
    body=predict_request,
    answers={200: PredictResponse},
    problems=(503,),
)
def predict(body):
    texts = body.statements
    predictor = get_predictor()
    calls = predictor.predict(texts, explain=body.explain)
    count_labels(p.label for p in calls)
    predictions = [p.as_dict() for p in calls]
    if body.actors:
        for text, prediction in zip(texts, predictions, strict=True):
            prediction["actors"] = actors_of(text)
    return json_answer({"model_version": predictor.version, "predictions": predictions})


@api.post("/v1/analyze")
@operation(
    "Read a whole document sentence by sentence",
    tag="model",
    body=analyze_request,
    answers={200: AnalyzeResponse},
    problems=(503,),
    description="Splits the document into sentences, labels each in one vectorised call and "
    "sums up the document. `text[start:end]` (in code points) is a sentence.",
)
def analyze_document(body):
    analysis = analyze(get_predictor(), body.text, explain=body.explain, actors=body.actors)
    count_labels(call.prediction.label for call in analysis.sentences)
    return json_answer(analysis.as_dict())


def count_labels(labels) -> None:
    """Count a request's labels and its number of texts (or sentences) for /metrics."""
    counts = Counter(labels)
    for label, count in counts.items():  # one metric update per label, not per text
        metrics.child(metrics.PREDICTIONS, label).inc(count)
    metrics.child(metrics.TEXTS, request.url_rule.rule).observe(counts.total())


@api.get("/v1/model")
@operation(
    "Describe the loaded model and this server's limits",
    tag="model",
    answers={200: ModelInfo},
    problems=(503,),
)
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
        limits=vars(limits()),
        function_words=sorted(FUNCTION_WORDS),
    )


@api.get("/healthz")
@operation(
    "Liveness: the process answers, with or without a model",
    tag="operations",
    answers={200: Health},
)
def healthz():
    return jsonify(status="ok")


@api.get("/readyz")
@operation(
    "Readiness: a verified model is loaded",
    tag="operations",
    answers={200: Ready},
    problems=(503,),
)
def readyz():
    predictor = get_predictor()  # 503 until a model is loaded and verified
    model_dir = str(get_model_slot().model_dir)
    return jsonify(status="ready", model_version=predictor.version, model_dir=model_dir)
