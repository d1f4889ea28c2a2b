"""The web page at /, the OpenAPI description and the API page at /docs: no templates."""

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from werkzeug.exceptions import NotFound

from service.headers import CONTENT_SECURITY_POLICY
from service.openapi import openapi_document, operation

STATIC = Path(__file__).resolve().parent / "static"
# Swagger UI's own files, as the flask-swagger-ui package ships them (Apache-2.0, its LICENSE
# is served beside them); our page and its start-up script are in STATIC.
SWAGGER_UI = Path(str(files("flask_swagger_ui") / "dist"))
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "favicon-32x32.png")
# Swagger UI draws its icons from data: URLs in its style sheet; nothing else is loosened.
DOCS_POLICY = CONTENT_SECURITY_POLICY.replace("img-src 'self'", "img-src 'self' data:")

# The page's own URL path for its files; the page links them relatively (assets/...), so it
# also works when the app is mounted under a prefix.
# Its security headers (CSP and the rest) are the app's, on every answer: service/headers.py.
web = Blueprint("web", __name__, static_folder=STATIC, static_url_path="/assets")


@web.get("/")
@operation("The web page", tag="page", answers={200: "The page."}, media_type="text/html")
def page() -> Response:
    return send_from_directory(STATIC, "index.html")


@web.get("/openapi.json")
@web.get("/v1/openapi.json")
@operation(
    "This description of the API (OpenAPI 3.1), written from the code",
    tag="operations",
    answers={200: "An OpenAPI 3.1 document."},
)
def openapi() -> Response:
    return jsonify(openapi_document(current_app))


@web.get("/docs")
@operation(
    "The API page: Swagger UI over this description",
    tag="page",
    answers={200: "The page."},
    media_type="text/html",
)
def docs() -> Response:
    response = send_from_directory(STATIC, "docs.html")
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response


@web.get("/docs/<name>")
@operation(
    "Swagger UI's files",
    tag="page",
    answers={200: "The file."},
    problems={404: "No such file."},
    media_type="*/*",
    parameters={"name": SWAGGER_UI_FILES},
)
def docs_file(name: str) -> Response:
    if name not in SWAGGER_UI_FILES:
        raise NotFound()
    return send_from_directory(SWAGGER_UI, name)
