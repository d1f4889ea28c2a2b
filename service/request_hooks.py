"""What every request goes through: an id, the security headers, and one log line with metrics."""

import logging
import time

from flask import Flask, Response, g, request

from service import metrics
from service.headers import REQUEST_ID_HEADER, SECURITY_HEADERS, request_id_from

request_log = logging.getLogger("service.requests")


def init_app(app: Flask) -> None:
    """Register the hooks; call it before any other init_app so the timing covers theirs."""
    app.before_request(start_request)
    app.after_request(finish_request)


def start_request() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.started = time.perf_counter()


def finish_request(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers[REQUEST_ID_HEADER] = g.request_id
    _observe(response)
    return response


def _observe(response: Response) -> None:
    """Count the answer and log it as one line: id, route, status, duration; never the body."""
    seconds = time.perf_counter() - g.started
    rule, method, status = request.url_rule, request.method, response.status_code
    route = rule.rule if rule else "unmatched"
    metrics.child(metrics.REQUESTS, route, method, str(status)).inc()
    metrics.child(metrics.LATENCY, route).observe(seconds)
    request_log.info(
        "%s %s %d",
        method,
        route,
        status,
        extra={
            "request_id": g.request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client": request.remote_addr,
        },
    )
