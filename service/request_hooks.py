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
