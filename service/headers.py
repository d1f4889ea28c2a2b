"""The headers every answer carries, from the app and from gunicorn's own error pages alike."""

import re
import uuid

# Everything the page needs comes from this origin: no CDN, no outside fonts, no inline code.
# JSON answers get the same policy: a browser that is somehow made to render one runs nothing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Set on every answer unless a view set its own (the page's files keep their revalidation
# headers; API answers, which differ per request, are never stored by a cache).
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is echoed only if it is short and plain, so it cannot inject into headers or
# logs; anything else gets an id of ours.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id_from(sent: str | None) -> str:
    """Return the client's request id if it is sane, else a new one."""
    if sent and _SANE_REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex
