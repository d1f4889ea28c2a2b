"""The Flask application factory: configuration, each part's init_app, blueprints, errors.

It only composes, as flaskr's factory does: the model slot is service/model_slot.py, the feedback
store service/feedback_store.py, what every request goes through service/request_hooks.py.
"""

import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from model import home
from model.labels import LIMITS
from service import feedback_store, model_slot, request_hooks
from service.admin import admin
from service.api import api
from service.errors import register_error_handlers
from service.feedback import feedback
from service.metrics import metrics
from service.oip import oip
from service.timeline_api import timeline_api
from service.web import web

# MODEL_DIR and FEEDBACK_DB come from model.home when the app is made (see create_app).
DEFAULTS: dict[str, Any] = {
    "MAX_TEXTS": LIMITS["max_texts"],
    "MAX_TEXT_CHARS": LIMITS["max_text_chars"],
    "MAX_DOCUMENT_CHARS": LIMITS["max_document_chars"],
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # Rows per POST /v1/timeline (the page's timeline of a scored file); bigger files: the CLI.
    "MAX_TIMELINE_ROWS": LIMITS["max_timeline_rows"],
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


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then STANCE_* environment variables, then test_config."""
    app = Flask(__name__, static_folder=None)  # the web blueprint serves the page's files
    app.json.sort_keys = False  # keep answers in the documented order: label first
    # Stance's home is read now, not at import: the working directory and environment decide it.
    app.config.from_mapping(
        DEFAULTS, MODEL_DIR=str(home.model_dir()), FEEDBACK_DB=str(home.feedback_db())
    )
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

    request_hooks.init_app(app)  # first, so its timing and headers cover the other hooks
    model_slot.init_app(app)
    feedback_store.init_app(app)

    app.register_blueprint(api)
    app.register_blueprint(feedback)
    app.register_blueprint(metrics)
    app.register_blueprint(oip)
    app.register_blueprint(timeline_api)
    app.register_blueprint(web)
    if app.config["ADMIN_TOKEN"]:
        app.register_blueprint(admin)
    register_error_handlers(app)
    return app
