"""Logs as JSON lines: one object per record, with the request's id, route, status and duration.

The server log is read by machines (a log shipper, jq) more than by people, and a JSON line cannot
be split or forged by a newline in a message. Request texts are never logged: the request log
names the route, not the body, and no handler logs what a client sent.
"""

import json
import logging
import time

# The fields a record may carry through `extra=`: request_log() and the error handler set them.
REQUEST_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "client")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str = "info") -> dict:
    """Return the dictConfig that sends every logger (gunicorn's and ours) to stderr as JSON."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        # gunicorn's error log comes with handlers of its own: send its messages through ours.
        # Its access log never writes (service.server.Logger): the app's request lines replace it.
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
        },
    }
