"""Bearer tokens for the endpoints that can be closed to anonymous clients."""

import hmac

from flask import request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized


def require_bearer(expected: str, what: str) -> None:
    """Raise 401 without an `Authorization: Bearer` token and 403 with a wrong one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            f"Send the {what} token as 'Authorization: Bearer <token>'.",
            www_authenticate=[WWWAuthenticate("Bearer")],
        )
    # Constant-time comparison: the time taken must not tell how much of the token matched.
    if not hmac.compare_digest(token.encode(), str(expected).encode()):
        raise Forbidden(f"The {what} token is wrong.")
