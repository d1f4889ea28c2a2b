"""The web page at / and the API's OpenAPI description: static files only, no templates."""

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).resolve().parent / "static"

# The page's own URL path for its files; the page links them relatively (assets/...), so it
# also works when the app is mounted under a prefix.
web = Blueprint("web", __name__, static_folder=STATIC, static_url_path="/assets")

# Everything the page needs comes from this origin: no CDN, no outside fonts, no inline code.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@web.get("/")
def page() -> Response:
    return send_from_directory(STATIC, "index.html")


@web.get("/v1/openapi.json")
def openapi() -> Response:
    response = send_from_directory(STATIC, "openapi.json")
    response.mimetype = "application/json"
    return response


@web.after_request
def _harden(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
