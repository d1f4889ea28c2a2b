"""The Flask application factory, and the slot that holds (and hot-swaps) the loaded model."""

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.middleware.proxy_fix import ProxyFix

from model import ArtifactError, Predictor
from model.artifact import current_version, current_version_or_none
from model.labels import LIMITS
from service import metrics
from service.errors import register_error_handlers
from service.headers import REQUEST_ID_HEADER, SECURITY_HEADERS, request_id_from
from training.feedback import DEFAULT_DB

DEFAULTS: dict[str, Any] = {
    "MODEL_DIR": "artifacts",
    "MAX_TEXTS": LIMITS["max_texts"],
    "MAX_TEXT_CHARS": LIMITS["max_text_chars"],
    "MAX_DOCUMENT_CHARS": LIMITS["max_document_chars"],
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "FEEDBACK_DB": DEFAULT_DB,
    # How often each worker looks at artifacts/CURRENT for a newly promoted version.
    "MODEL_CHECK_SECONDS": 1.0,
    # /v1/admin/reload exists only when this is set.
    "ADMIN_TOKEN": None,
    # POST /v1/feedback: an optional token, corrections per client per minute (in each worker),
    # and the size of the store (SQLite file and its log) past which it answers 503.
    "FEEDBACK_TOKEN": None,
    "FEEDBACK_PER_MINUTE": 30,
    "FEEDBACK_MAX_BYTES": 100 * 1024 * 1024,
    # How many proxies in front set X-Forwarded-For; their word names the client (rate limits,
    # logs). 0 trusts none: a client could otherwise choose its own address.
    "TRUSTED_PROXIES": 0,
}
# Secrets are strings, whatever they look like: from_prefixed_env would read "1e3" as a number.
PLAIN_STRING_SETTINGS = ("FEEDBACK_TOKEN", "ADMIN_TOKEN")

log = logging.getLogger(__name__)
request_log = logging.getLogger("service.requests")


class ModelSlot:
    """Holds the app's model; swaps in a newly promoted version only once it has verified.

    Requests take `slot.predictor` once and use that object throughout, so a swap never mixes
    two versions in one answer, and a version that fails to load never replaces a working one.
    """

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


def model_slot() -> ModelSlot:
    return current_app.extensions["stance"]


def get_predictor() -> Predictor:
    """Return the app's model, or answer 503 while there is none."""
    predictor = model_slot().predictor  # taken once: a swap mid-request cannot mix versions
    if predictor is None:
        raise ServiceUnavailable(f"No model is loaded: {model_slot().error}")
    g.model_version = predictor.version
    return predictor


def _request_reload_on_sighup(slot: ModelSlot) -> None:
    # Only the main thread may set signal handlers; under a threaded test runner we skip it.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, lambda *_: setattr(slot, "reload_requested", True))


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then STANCE_* environment variables, then test_config."""
    app = Flask(__name__, static_folder=None)  # the web blueprint serves the page's files
    app.json.sort_keys = False  # keep answers in the documented order: label first
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("STANCE")
    # from_prefixed_env parses values as JSON: a token "1e3" would become 1000.0 and "0" would
    # turn the endpoint off. A token is a string, whatever it looks like.
    for name in PLAIN_STRING_SETTINGS:
        if f"STANCE_{name}" in os.environ:
            app.config[name] = os.environ[f"STANCE_{name}"]
    if test_config:
        app.config.update(test_config)
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["TRUSTED_PROXIES"]))

    slot = ModelSlot(Path(app.config["MODEL_DIR"]), float(app.config["MODEL_CHECK_SECONDS"]))
    with contextlib.suppress(ArtifactError):  # /readyz answers 503 with the reason until then
        slot.reload()
    app.extensions["stance"] = slot
    if not app.testing:
        _request_reload_on_sighup(slot)

    @app.before_request
    def start_request() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.started = time.perf_counter()
        slot.refresh()

    @app.after_request
    def finish_request(response: Response) -> Response:
        version = g.get("model_version", slot.version)
        if version:
            response.headers["X-Model-Version"] = version
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers[REQUEST_ID_HEADER] = g.request_id
        _observe(response)
        return response

    from service.admin import admin
    from service.api import api
    from service.feedback import feedback
    from service.oip import oip
    from service.web import web

    app.register_blueprint(api)
    app.register_blueprint(feedback)
    app.register_blueprint(metrics.metrics)
    app.register_blueprint(oip)
    app.register_blueprint(web)
    if app.config["ADMIN_TOKEN"]:
        app.register_blueprint(admin)
    register_error_handlers(app)
    return app


def _observe(response: Response) -> None:
    """Count the answer and log it as one line: id, route, status, duration; never the body."""
    seconds = time.perf_counter() - g.started
    route = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    metrics.LATENCY.labels(route).observe(seconds)
    request_log.info(
        "%s %s %d",
        request.method,
        route,
        response.status_code,
        extra={
            "request_id": g.request_id,
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
            "client": request.remote_addr,
        },
    )
