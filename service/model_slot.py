"""The app's model: the slot that holds (and hot-swaps) it, init_app and get_predictor.

As flaskr's db.py does for its database: create_app calls init_app once, views call
get_predictor. Requests take the predictor once and use that object throughout, so a swap never
mixes two versions in one answer, and a version that fails to load never replaces a working one.
"""

import contextlib
import logging
import signal
import threading
import time
from pathlib import Path

from flask import Flask, Response, current_app, g
from werkzeug.exceptions import ServiceUnavailable

from model import ArtifactError, Predictor
from model.artifact import current_version, current_version_or_none
from service import metrics

EXTENSION = "stance_model"

log = logging.getLogger(__name__)


class ModelSlot:
    """Holds the app's model; swaps in a newly promoted version only once it has verified."""

    def __init__(self, model_dir: Path, check_seconds: float):
        self.model_dir = model_dir
        self.check_seconds = check_seconds
        self.predictor: Predictor | None = None
        self.error: str | None = None
        self.reload_requested = False
        self._checked_at = 0.0
        self._refused: str | None = None  # a version that failed; not retried until CURRENT moves
        self._lock = threading.Lock()

    def reload(self, force: bool = False) -> Predictor:
        """Load the version CURRENT names if it is not the one serving; raise if it is refused."""
        with self._lock:
            self._checked_at = time.monotonic()
            self.reload_requested = False
            try:
                wanted = current_version(self.model_dir)
                if self.predictor is not None and self.predictor.version == wanted:
                    return self.predictor
                if wanted == self._refused and not force:
                    raise ArtifactError(self.error or f"model {wanted} was refused")
                predictor = Predictor.load(self.model_dir / wanted)
            except ArtifactError as error:
                self.error = str(error)
                self._refused = current_version_or_none(self.model_dir)
                log.error("model not loaded, still serving %s: %s", self.version, error)
                metrics.RELOADS.labels("refused").inc()
                raise
            previous, self.predictor, self.error, self._refused = (
                self.version,
                predictor,
                None,
                None,
            )
            log.info("model %s now serving (was %s)", predictor.version, previous)
            metrics.RELOADS.labels("loaded").inc()
            metrics.model_changed(previous, predictor.version)
            return predictor

    def refresh(self) -> None:
        """Pick up a newly promoted version, at most once per check interval or on SIGHUP."""
        due = time.monotonic() - self._checked_at >= self.check_seconds
        if due or self.reload_requested:
            with contextlib.suppress(ArtifactError):  # logged; the old model keeps serving
                self.reload()

    @property
    def version(self) -> str | None:
        return self.predictor.version if self.predictor else None


def init_app(app: Flask) -> None:
    """Load the model MODEL_DIR names, and keep it current before each request."""
    slot = ModelSlot(Path(app.config["MODEL_DIR"]), float(app.config["MODEL_CHECK_SECONDS"]))
    with contextlib.suppress(ArtifactError):  # /readyz answers 503 with the reason until then
        slot.reload()
    app.extensions[EXTENSION] = slot
    if not app.testing:
        _request_reload_on_sighup(slot)
    app.before_request(slot.refresh)

    @app.after_request
    def name_model_version(response: Response) -> Response:
        version = g.get("model_version", slot.version)  # the one that answered, if any did
        if version:
            response.headers["X-Model-Version"] = version
        return response


def get_model_slot() -> ModelSlot:
    return current_app.extensions[EXTENSION]


def get_predictor() -> Predictor:
    """Return the app's model, or answer 503 while there is none."""
    slot = get_model_slot()
    predictor = slot.predictor  # taken once: a swap mid-request cannot mix versions
    if predictor is None:
        raise ServiceUnavailable(f"No model is loaded: {slot.error}")
    g.model_version = predictor.version
    return predictor


def _request_reload_on_sighup(slot: ModelSlot) -> None:
    # Only the main thread may set signal handlers; under a threaded test runner we skip it.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, lambda *_: setattr(slot, "reload_requested", True))
