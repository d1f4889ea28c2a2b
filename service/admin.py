"""Admin endpoints, registered only when STANCE_ADMIN_TOKEN is set."""

import hmac

from flask import Blueprint, current_app, jsonify, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Conflict, Forbidden, Unauthorized

from model import ArtifactError
from service.app import model_slot

admin = Blueprint("admin", __name__)


@admin.before_request
def require_token() -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "Send the admin token as 'Authorization: Bearer <token>'.",
            www_authenticate=[WWWAuthenticate("Bearer")],
        )
    expected = current_app.config["ADMIN_TOKEN"]
    # Constant-time comparison: the time taken must not tell how much of the token matched.
    if not hmac.compare_digest(token.encode(), str(expected).encode()):
        raise Forbidden("The admin token is wrong.")


@admin.post("/v1/admin/reload")
def reload_model():
    slot = model_slot()
    previous = slot.version
    try:
        predictor = slot.reload(force=True)
    except ArtifactError as error:
        raise Conflict(f"Refused the new model, still serving {previous}: {error}") from None
    return jsonify(model_version=predictor.version, previous_version=previous)
