"""Admin endpoints, registered only when STANCE_ADMIN_TOKEN is set."""

from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import Conflict

from model import ArtifactError
from service.auth import require_bearer
from service.model_slot import get_model_slot
from service.openapi import operation
from service.schemas import Reloaded

admin = Blueprint("admin", __name__)


@admin.before_request
def require_token() -> None:
    require_bearer(current_app.config["ADMIN_TOKEN"], "admin")


@admin.post("/v1/admin/reload")
@operation(
    "Load the version artifacts/CURRENT names now",
    tag="operations",
    answers={200: Reloaded},
    problems={
        401: None,
        403: None,
        409: "The new version was refused (broken, tampered or not a Stance model); the old "
        "one keeps serving, and the detail says why.",
    },
    description="Exists only when STANCE_ADMIN_TOKEN is set. Workers also pick up a newly "
    "promoted version by themselves within a second; this makes one worker do it now.",
    security=({"bearer": []},),
)
def reload_model():
    slot = get_model_slot()
    previous = slot.version
    try:
        predictor = slot.reload(force=True)
    except ArtifactError as error:
        raise Conflict(f"Refused the new model, still serving {previous}: {error}") from None
    return jsonify(model_version=predictor.version, previous_version=previous)
