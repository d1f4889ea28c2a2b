"""Every error leaves the API as application/problem+json (RFC 9457), never HTML or a traceback."""

import logging

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_TYPE = "application/problem+json"

log = logging.getLogger(__name__)


def problem_document(status: int, title: str, detail: str) -> dict:
    """Return the problem body; gunicorn's own error answers use it too (service/server.py)."""
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def problem(status: int, title: str, detail: str) -> Response:
    """Return a problem+json response."""
    response = jsonify(problem_document(status, title, detail))
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    return response


def _from_http_exception(error: HTTPException) -> Response:
    response = problem(error.code or 500, error.name, error.description or error.name)
    # Keep the headers the exception carries, such as Allow on a 405 or WWW-Authenticate on a 401.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers.add(name, value)
    return response


def _from_unexpected(error: Exception) -> Response:
    # Handling Exception here stops Flask from logging it, so the traceback is logged here, with
    # the request id the client got; the client learns only that it was our fault.
    request_id = g.get("request_id")
    log.error("unhandled %r", error, exc_info=error, extra={"request_id": request_id})
    return _from_http_exception(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    """Turn every HTTP error and every unexpected exception into a problem response."""
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(Exception, _from_unexpected)
