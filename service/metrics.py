"""Prometheus metrics, and GET /metrics.

Under gunicorn each worker is its own process, so the metrics live in prometheus_client's
multiprocess mode: every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR, and
/metrics, whichever worker answers it, adds them all up. The server start sets that folder up
and empties it for each run (service/server.py). Without it (the Flask test client, one process)
the same metrics live in the default registry.

The metrics are created once per process, at import, because a registry refuses the same name
twice; label values are bounded (route rules, statuses, labels, versions), never request data.
"""

import functools
import os
from typing import Any

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter(
    "stance_http_requests_total",
    "HTTP answers, by route (the URL rule; 'unmatched' for 404s), method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "stance_http_request_duration_seconds",
    "Time from the request's arrival in the app to its answer, by route.",
    ["route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PREDICTIONS = Counter(
    "stance_predictions_total",
    "Texts (predict) and sentences (analyze) labelled, by label.",
    ["label"],
)
TEXTS = Histogram(
    "stance_texts_per_request",
    "Texts per /v1/predict request and sentences per /v1/analyze request.",
    ["route"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
# 1 for each version a live worker serves: during a rollout two versions show for a moment.
MODEL = Gauge(
    "stance_model_info",
    "The model version serving (1) in at least one live worker.",
    ["version"],
    multiprocess_mode="livemax",
)
RELOADS = Counter(
    "stance_model_loads_total",
    "Model loads at start and on reload, by outcome: loaded, or refused (the old one serves).",
    ["outcome"],
)

metrics = Blueprint("metrics", __name__)


@functools.cache
def child(metric: Counter | Histogram, *values: str) -> Any:
    """Return metric.labels(*values), looked up once per process rather than on every request.

    The label values are few and fixed (routes, methods, statuses, labels), so the cache stays
    small; prometheus_client keeps one child per set of values anyway, so this is the same
    object `labels` returns, and after a fork it rebinds its file itself (multiprocess mode).
    """
    return metric.labels(*values)


def model_changed(previous: str | None, current: str) -> None:
    """Record that a worker now serves `current` instead of `previous`."""
    if previous:
        MODEL.labels(previous).set(0)
    MODEL.labels(current).set(1)


@metrics.get("/metrics")
def scrape() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()  # a fresh one per scrape, as prometheus_client advises
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
