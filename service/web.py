"""The web page at / and the API's OpenAPI description: static files only, no templates."""

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).resolve().parent / "static"

# The page's own URL path for its files; the page links them relatively (assets/...), so it
# also works when the app is mounted under a prefix.
# Its security headers (CSP and the rest) are the app's, on every answer: service/headers.py.
web = Blueprint("web", __name__, static_folder=STATIC, static_url_path="/assets")


@web.get("/")
def page() -> Response:
    return send_from_directory(STATIC, "index.html")


@web.get("/v1/openapi.json")
def openapi() -> Response:
    response = send_from_directory(STATIC, "openapi.json")
    response.mimetype = "application/json"
    return response
