"""POST /v1/feedback: store a user's correction of the model's call.

Anyone who can reach it can write to disk, so it is bounded three ways: an optional token
(STANCE_FEEDBACK_TOKEN), a per-client rate (429), and a cap on the store's size (503).
"""

import logging
import math
import sqlite3
import threading
import time
from collections import deque
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests, UnprocessableEntity

from service.api import json_type, read_json_object
from service.auth import require_bearer
from service.feedback_store import get_feedback_store
from service.model_slot import get_predictor

feedback = Blueprint("feedback", __name__)

LIMITER = "stance_feedback_rate"
REQUIRED_FIELDS = ("text", "label")
OPTIONAL_FIELDS = ("note",)

log = logging.getLogger(__name__)


@feedback.record_once
def _attach_rate_limit(state: BlueprintSetupState) -> None:
    state.app.extensions[LIMITER] = RateLimit(int(state.app.config["FEEDBACK_PER_MINUTE"]))


class RateLimit:
    """At most `per_minute` requests per client in any 60 seconds, counted in this process.

    Each gunicorn worker counts on its own (nothing is shared), so with N workers a client
    gets at most N times the limit: a bound on the disk it can fill, not an exact quota. The
    exact per-client limit belongs in the proxy in front (README, "Deployment").
    """

    WINDOW = 60.0
    # Forget idle clients once this many are tracked, so the table cannot grow without bound.
    MAX_CLIENTS = 10_000

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Count a request from client; return 0 if allowed, else the seconds until it is."""
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= self.MAX_CLIENTS:
                self._seen = {
                    c: times for c, times in self._seen.items() if now - times[-1] < self.WINDOW
                }
            times = self._seen.setdefault(client, deque())
            while times and now - times[0] >= self.WINDOW:
                times.popleft()
            if len(times) >= self.per_minute:
                return self.WINDOW - (now - times[0])
            times.append(now)
            return 0.0


def feedback_from(body: dict[str, Any]) -> dict[str, Any]:
    """Return text, label and note from a feedback request, or raise 422 naming the field."""
    allowed = REQUIRED_FIELDS + OPTIONAL_FIELDS
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise UnprocessableEntity(
            f'Unknown field "{unknown[0]}": send "text", "label" and optionally "note".'
        )
    for name in REQUIRED_FIELDS:
        if name not in body:
            raise UnprocessableEntity(f'"{name}" is missing.')
    for name in allowed:
        value = body.get(name)
        if name in OPTIONAL_FIELDS and value is None:
            continue
        if not isinstance(value, str):
            raise UnprocessableEntity(f'"{name}" must be a string, not a {json_type(value)}.')
    return {name: body.get(name) for name in allowed}


@feedback.post("/v1/feedback")
def add_feedback():
    config = current_app.config
    if config["FEEDBACK_TOKEN"]:
        require_bearer(config["FEEDBACK_TOKEN"], "feedback")
    wait = current_app.extensions[LIMITER].wait(request.remote_addr or "unknown")
    if wait:
        raise TooManyRequests(
            f"At most {config['FEEDBACK_PER_MINUTE']} corrections a minute per client; "
            f"try again in {math.ceil(wait)} s.",
            retry_after=math.ceil(wait),
        )
    sent = feedback_from(read_json_object())
    model_version = get_predictor().version  # 503 while no model is loaded
    store = get_feedback_store()
    if store.size_bytes() >= config["FEEDBACK_MAX_BYTES"]:
        raise ServiceUnavailable(
            f"The feedback store is full ({config['FEEDBACK_MAX_BYTES']} bytes): no more "
            "corrections are taken until it is exported and emptied."
        )
    try:
        record = store.add(**sent, model_version=model_version)
    except ValueError as error:
        raise UnprocessableEntity(f"{error}.") from None
    except sqlite3.Error:
        log.exception("cannot store feedback in %s", store.path)
        raise ServiceUnavailable("The feedback store is unavailable; try again later.") from None
    return jsonify(record), 201
