"""POST /v1/feedback: store a user's correction of the model's call."""

import logging
import sqlite3
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import ServiceUnavailable, UnprocessableEntity

from service.api import json_type, read_json_object
from service.app import get_predictor
from training.feedback import FeedbackStore

feedback = Blueprint("feedback", __name__)

EXTENSION = "stance_feedback"
REQUIRED_FIELDS = ("text", "label")
OPTIONAL_FIELDS = ("note",)

log = logging.getLogger(__name__)


@feedback.record_once
def _attach_store(state: BlueprintSetupState) -> None:
    # Only the path is kept: connections are opened per request, in the worker that serves it.
    state.app.extensions[EXTENSION] = FeedbackStore(state.app.config["FEEDBACK_DB"])


def get_feedback_store() -> FeedbackStore:
    """Return the app's feedback store."""
    return current_app.extensions[EXTENSION]


def correction_from(body: dict[str, Any]) -> dict[str, Any]:
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
    correction = correction_from(read_json_object())
    model_version = get_predictor().version  # 503 while no model is loaded
    try:
        record = get_feedback_store().add(**correction, model_version=model_version)
    except ValueError as error:
        raise UnprocessableEntity(f"{error}.") from None
    except sqlite3.Error:
        log.exception("cannot store feedback in %s", get_feedback_store().path)
        raise ServiceUnavailable("The feedback store is unavailable; try again later.") from None
    return jsonify(record), 201
