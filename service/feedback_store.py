"""The app's feedback store: init_app and get_feedback_store, as flaskr's db.py does.

The store itself, SQLite and its checks, is model.feedback_store: the CLI and training read the
same file. Only the path is kept here; each worker thread opens its own connection on first use.
"""

from flask import Flask, current_app

from model.feedback_store import FeedbackStore

EXTENSION = "stance_feedback"


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = FeedbackStore(app.config["FEEDBACK_DB"])


def get_feedback_store() -> FeedbackStore:
    return current_app.extensions[EXTENSION]
