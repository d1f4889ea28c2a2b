"""Admin endpoints, registered only when STANCE_ADMIN_TOKEN is set."""

from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import Conflict

from model import ArtifactError
from service.auth import require_bearer
from service.model_slot import get_model_slot

admin = Blueprint("admin", __name__)


@admin.before_request
def require_token() -> None:
    require_bearer(current_app.config["ADMIN_TOKEN"], "admin")


@admin.post("/v1/admin/reload")
def reload_model():
    slot = get_model_slot()
    previous = slot.version
    try:
        predictor = slot.reload(force=True)
    except ArtifactError as error:
        raise Conflict(f"Refused the new model, still serving {previous}: {error}") from None
    return jsonify(model_version=predictor.version, previous_version=previous)
