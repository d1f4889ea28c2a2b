"""The Flask application factory."""

import logging
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from werkzeug.exceptions import ServiceUnavailable

from model import ArtifactError, Predictor
from service.errors import register_error_handlers
from training.feedback import DEFAULT_DB

DEFAULTS: dict[str, Any] = {
    "MODEL_DIR": "artifacts",
    "MAX_TEXTS": 1000,
    "MAX_TEXT_CHARS": 10_000,
    "MAX_DOCUMENT_CHARS": 100_000,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "FEEDBACK_DB": DEFAULT_DB,
}

log = logging.getLogger(__name__)


class ModelSlot:
    """Holds the app's loaded model, or why there is none."""

    def __init__(self, model_dir: Path):
        self.model_dir = model_dir
        self.predictor: Predictor | None = None
        self.error: str | None = None

    def load(self) -> None:
        """Load the current version; on failure keep serving without one and say why."""
        try:
            self.predictor = Predictor.load_current(self.model_dir)
            self.error = None
        except ArtifactError as error:
            self.error = str(error)
            log.error("model not loaded: %s", error)


def get_predictor() -> Predictor:
    """Return the app's model, or answer 503 while there is none."""
    slot: ModelSlot = current_app.extensions["stance"]
    if slot.predictor is None:
        raise ServiceUnavailable(f"No model is loaded: {slot.error}")
    return slot.predictor


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then STANCE_* environment variables, then test_config."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("STANCE")
    if test_config:
        app.config.update(test_config)

    slot = ModelSlot(Path(app.config["MODEL_DIR"]))
    slot.load()
    app.extensions["stance"] = slot

    from service.api import api
    from service.feedback import feedback

    app.register_blueprint(api)
    app.register_blueprint(feedback)
    register_error_handlers(app)
    return app
