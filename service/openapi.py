"""The OpenAPI description, written from the app itself: its routes, and for each the operation
its view declares with @operation (the request model it validates with, the answers it gives).

A route without a declared operation is an error when the document is built, so the description
cannot leave one out; tests/service/test_openapi.py builds it for every configuration.
"""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.errors import PROBLEM_TYPE
from service.headers import REQUEST_ID_HEADER
from service.schemas import Limits, Problem, Request, limits, validated_body

JSON = "application/json"
MODEL_VERSION_HEADER = "X-Model-Version"

# What each error status means on this API; an operation may say more for its own.
PROBLEMS: dict[int, str] = {
    400: "The body is not valid JSON, not UTF-8, nested too deeply, or a malformed request.",
    401: "No 'Authorization: Bearer' token was sent.",
    403: "The token sent is wrong.",
    404: "No such path.",
    405: "The path does not take this method; Allow lists the ones it takes.",
    409: "Refused.",
    413: "The body is over the size limit (sent with Content-Length or chunked).",
    415: "The body was not sent as JSON (Content-Type application/json or *+json).",
    422: "Valid JSON of the wrong shape; the detail names each field that is wrong and why.",
    429: "Too many requests from this client; Retry-After says when to try again.",
    500: "A bug: the detail says nothing of internals; the server log has the traceback.",
    503: "No verified model is loaded; the detail says why.",
}
# Every JSON body can be refused for these before its fields are read.
BODY_PROBLEMS = (400, 413, 415, 422)


@dataclass(frozen=True)
class Operation:
    """What one view does, for the description: its request body and its answers."""

    summary: str
    tag: str
    answers: dict[int, type[BaseModel] | str | None]
    problems: dict[int, str | None] = field(default_factory=dict)
    body: Callable[[Limits], type[Request]] | None = None
    description: str | None = None
    media_type: str = JSON  # of the 2xx answers
    security: tuple[dict[str, list[str]], ...] | None = None
    error: type[BaseModel] = Problem
    error_media_type: str = PROBLEM_TYPE
    # The values a path parameter can take where they are few and known; others are 404s.
    parameters: dict[str, tuple[str, ...]] = field(default_factory=dict)


def operation(
    summary: str,
    *,
    tag: str,
    answers: dict[int, type[BaseModel] | str | None],
    problems: dict[int, str | None] | tuple[int, ...] = (),
    body: Callable[[Limits], type[Request]] | None = None,
    **options: Any,
) -> Callable:
    """Declare a view's operation; with a body model, validate the body and pass it as `body`."""
    if isinstance(problems, tuple):
        problems = dict.fromkeys(problems)
    body_problems = options.pop("body_problems", BODY_PROBLEMS)
    if body is not None:
        problems = dict.fromkeys(body_problems) | problems
    spec = Operation(summary, tag, answers, {**problems, 500: None}, body, **options)

    def declare(view: Callable) -> Callable:
        if body is None:
            view.openapi = spec
            return view

        @functools.wraps(view)
        def with_body(*args: Any, **kwargs: Any) -> Any:
            return view(*args, body=validated_body(body(limits())), **kwargs)

        with_body.openapi = spec
        return with_body

    return declare


# Routes whose views are not decorated here (Flask's static files; /metrics, whose module
# stays free of the API's description), described here.
OTHER_OPERATIONS = {
    "metrics.scrape": Operation(
        "Prometheus metrics, added up over every worker",
        tag="operations",
        answers={200: "The Prometheus text format (version 0.0.4)."},
        media_type="text/plain",
    ),
    "web.static": Operation(
        "The page's own files (script, style, icon) and the API page's",
        tag="page",
        answers={200: "The file."},
        problems={404: "No such file."},
        media_type="*/*",
    ),
}

TAGS = [
    {"name": "model", "description": "Labels, explanations and the model behind them."},
    {"name": "feedback", "description": "Corrections of the model's calls."},
    {"name": "open inference", "description": "The Open Inference Protocol (KServe V2)."},
    {"name": "operations", "description": "Health, readiness, metrics, reloads, this document."},
    {"name": "page", "description": "The web page and the API page."},
]


def openapi_document(app: Flask) -> dict[str, Any]:
    """Return the OpenAPI 3.1 description of every route app has."""
    found = app.extensions.get("stance_openapi")
    if found is None:
        found = app.extensions["stance_openapi"] = _build(app)
    return found


def _build(app: Flask) -> dict[str, Any]:
    with app.app_context():
        app_limits = limits()
    paths: dict[str, dict[str, Any]] = {}
    models: set[type[BaseModel]] = set()
    ids: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        spec = getattr(app.view_functions[rule.endpoint], "openapi", None)
        spec = spec or OTHER_OPERATIONS.get(rule.endpoint)
        if spec is None:
            raise LookupError(f"{rule.rule} ({rule.endpoint}) has no @operation")
        path = _openapi_path(rule.rule)
        if rule.endpoint.endswith(".static"):  # a blueprint's files: the folder says which
            folder = app.blueprints[rule.endpoint.split(".")[0]].static_folder
            names = tuple(sorted(p.name for p in Path(folder).iterdir() if p.is_file()))
            spec = replace(spec, parameters={"filename": names})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            item, used = _operation(spec, sorted(rule.arguments), app_limits)
            # One view can serve several paths; each operation needs an id of its own.
            name = rule.endpoint.replace(".", "_")
            item["operationId"] = name if name not in ids else f"{name}_{len(ids)}"
            ids.add(item["operationId"])
            paths.setdefault(path, {})[method.lower()] = item
            models |= used
    _, schemas = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stance API",
            "version": package_version(),
            "summary": "Tag statements from diplomatic and political news as conciliatory, "
            "warning or neutral.",
            "description": _description(app_limits),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "headers": {
                REQUEST_ID_HEADER: {
                    "description": "The client's id if it sent a plain one (1-128 of A-Z a-z "
                    "0-9 ._:-), else a new one; the server log names it too.",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"},
                },
                MODEL_VERSION_HEADER: {
                    "description": "The model version that answered (absent while none is loaded).",
                    "schema": {"type": "string"},
                },
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "STANCE_ADMIN_TOKEN for the admin endpoints; "
                    "STANCE_FEEDBACK_TOKEN, when set, for feedback.",
                }
            },
        },
    }


def _openapi_path(rule: str) -> str:
    """Write a werkzeug rule (/assets/<path:filename>) as an OpenAPI path (/assets/{filename})."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(
    spec: Operation, arguments: list[str], app_limits: Limits
) -> tuple[dict[str, Any], set[type[BaseModel]]]:
    used: set[type[BaseModel]] = set()
    headers = {
        name: {"$ref": f"#/components/headers/{name}"}
        for name in (REQUEST_ID_HEADER, MODEL_VERSION_HEADER)
    }
    responses: dict[str, Any] = {}
    for status, answer in spec.answers.items():
        response: dict[str, Any] = {"headers": headers}
        if isinstance(answer, type):
            used.add(answer)
            response["description"] = (answer.__doc__ or answer.__name__).strip().split("\n")[0]
            response["content"] = {spec.media_type: {"schema": _ref(answer)}}
        else:
            response["description"] = answer or "OK"
            response["content"] = {spec.media_type: {"schema": {}}}
        responses[str(status)] = response
    for status, description in sorted(spec.problems.items()):
        used.add(spec.error)
        responses[str(status)] = {
            "description": description or PROBLEMS[status],
            "headers": headers,
            "content": {spec.error_media_type: {"schema": _ref(spec.error)}},
        }
    item: dict[str, Any] = {
        "tags": [spec.tag],
        "summary": spec.summary,
        "responses": responses,
    }
    if spec.description:
        item["description"] = spec.description
    if arguments:
        item["parameters"] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string"}
                | ({"enum": list(spec.parameters[name])} if name in spec.parameters else {}),
            }
            for name in arguments
        ]
    if spec.body is not None:
        model = spec.body(app_limits)
        used.add(model)
        item["requestBody"] = {"required": True, "content": {JSON: {"schema": _ref(model)}}}
    if spec.security is not None:
        item["security"] = list(spec.security)
    return item, used


def _description(app_limits: Limits) -> str:
    return (
        "`POST /v1/predict` labels statements; `POST /v1/analyze` splits a document into "
        "sentences and labels each, with a summary of its tone. The same model answers the "
        "Open Inference Protocol under `/v2`. Every error of the `/v1` API is "
        "`application/problem+json` (RFC 9457); the Open Inference Protocol's are "
        '`{"error": "..."}` as that protocol says.\n\n'
        f"This server's limits: at most {app_limits.max_texts} texts a request, "
        f"{app_limits.max_text_chars} characters a text, {app_limits.max_document_chars} "
        f"characters a document and {app_limits.max_body_bytes} bytes a body "
        "(STANCE_MAX_TEXTS, STANCE_MAX_TEXT_CHARS, STANCE_MAX_DOCUMENT_CHARS, "
        "STANCE_MAX_CONTENT_LENGTH). Lengths count Unicode code points. A text must hold "
        "something other than white space."
    )


def package_version() -> str:
    try:
        return metadata.version("stance")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "0"


def current_document() -> dict[str, Any]:
    return openapi_document(current_app)
