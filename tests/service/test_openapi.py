"""The OpenAPI description, written from the code: valid, complete, and true of the real app.

schemathesis generates requests from the description, valid and invalid, sends them to the app
through WSGI and checks every answer against it with all its default checks.
"""

import re
import sys

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from model.labels import LIMITS
from service.app import create_app
from service.schemas import NOT_BLANK, Limits, predict_request, validated

from ..helpers import assert_problem, start_gunicorn, stop
from . import test_web

TOKEN = "s3cret"
FULL_CONFIG = {
    "ADMIN_TOKEN": TOKEN,
    "FEEDBACK_PER_MINUTE": 1_000_000,  # schemathesis sends many; the limit has its own test
    "MODEL_CHECK_SECONDS": 3600,
    # Small limits keep schemathesis' bodies small (and under the 1 MiB body limit, which is
    # refused with 413 before the fields are read) and its examples fast.
    "MAX_TEXTS": 20,
    "MAX_TEXT_CHARS": 300,
    "MAX_DOCUMENT_CHARS": 3000,
}
browser = test_web.browser  # the page tests' Chromium fixture (skipped where it is missing)


def full_app_in(model_dir, folder):
    """The app with every optional route on (admin reload too), its store in folder."""
    app = create_app(
        {
            "TESTING": True,
            "MODEL_DIR": str(model_dir),
            "FEEDBACK_DB": str(folder / "feedback.sqlite3"),
            **FULL_CONFIG,
        }
    )
    yield app
    app.extensions["stance_feedback"].close()


@pytest.fixture
def full_app(model_dir, tmp_path):
    yield from full_app_in(model_dir, tmp_path)


@pytest.fixture(scope="module")
def shared_app(model_dir, tmp_path_factory):
    """One app for all of schemathesis' examples (hypothesis reuses fixtures across them)."""
    yield from full_app_in(model_dir, tmp_path_factory.mktemp("schemathesis"))


def routes_of(app) -> dict[str, set[str]]:
    routed: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routed.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    return routed


@pytest.mark.parametrize("admin", [False, True])
def test_the_document_is_valid_openapi_and_describes_every_route(model_dir, admin):
    config = {"TESTING": True, "MODEL_DIR": str(model_dir)}
    app = create_app({**config, "ADMIN_TOKEN": TOKEN} if admin else config)
    client = app.test_client()
    spec = client.get("/openapi.json").get_json()
    validate(spec)  # raises on anything that is not OpenAPI 3.1
    assert spec["openapi"] == "3.1.0"
    documented = {path: {m.upper() for m in ops} for path, ops in spec["paths"].items()}
    assert documented == routes_of(app)
    assert ("/v1/admin/reload" in documented) == admin
    assert client.get("/v1/openapi.json").get_json() == spec


def test_the_document_states_this_servers_limits(model_dir):
    app = create_app({"TESTING": True, "MODEL_DIR": str(model_dir), "MAX_TEXTS": 2})
    spec = app.test_client().get("/openapi.json").get_json()
    texts = spec["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
    assert texts["maxItems"] == 2
    assert texts["items"]["maxLength"] == LIMITS["max_text_chars"]
    assert texts["items"]["pattern"] == NOT_BLANK
    limits = app.test_client().get("/v1/model").get_json()["limits"]
    assert limits == {
        **LIMITS,
        "max_texts": 2,
        "max_body_bytes": 1 << 20,
    }


def test_the_admin_reload_and_the_headers_are_described(full_app):
    spec = full_app.test_client().get("/openapi.json").get_json()
    reload = spec["paths"]["/v1/admin/reload"]["post"]
    assert {"200", "401", "403", "409"} <= set(reload["responses"])
    assert reload["security"] == [{"bearer": []}]
    predict = spec["paths"]["/v1/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(predict)
    for response in predict.values():
        assert set(response["headers"]) == {"X-Request-ID", "X-Model-Version"}
    assert spec["paths"]["/assets/{filename}"]["get"]["responses"]["404"]


def test_blank_means_what_str_strip_means_for_every_code_point():
    pattern = re.compile(NOT_BLANK)
    differ = [
        hex(point)
        for point in range(sys.maxunicode + 1)
        if bool(pattern.search(chr(point))) != bool(chr(point).strip())
    ]
    assert differ == []


@pytest.mark.parametrize("blank", ["", " ", "\t\n", "\u3000", "\x1c", "\u2028 \u00a0"])
def test_the_server_refuses_what_the_pattern_refuses(blank):
    model = predict_request(Limits(10, 100, 100, 10, 1000, 10))
    with pytest.raises(Exception, match="empty"):
        validated(model, {"text": blank})
    assert validated(model, {"text": blank + "x"}).statements == [blank + "x"]


def test_docs_is_swagger_ui_from_our_own_files(client):
    with client.get("/docs") as page:
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    linked = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert not [url for url in linked if re.match(r"^(?:[a-z]+:)?//", url)]
    assert "<script>" not in html  # no inline script: the policy would block it
    for url in linked:
        with client.get(f"/{url}") as answer:
            assert answer.status_code == 200, url
    with client.get("/docs/LICENSE") as licence:
        assert "Apache License" in licence.get_data(as_text=True)
    assert_problem(client.get("/docs/index.html"), 404)


@pytest.mark.slow
@pytest.mark.server
def test_docs_draws_every_operation_in_chromium_with_nothing_blocked(browser, model_dir, tmp_path):
    process, base = start_gunicorn(model_dir, tmp_path, workers=1)
    try:
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda message: problems.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock")
        spec = requests.get(f"{base}/openapi.json", timeout=10).json()
        operations = sum(len(methods) for methods in spec["paths"].values())
        assert page.locator(".opblock").count() == operations
        page.screenshot(path=tmp_path / "docs.png")
        assert problems == []  # a script or style the policy blocked would show here
        page.close()
    finally:
        stop(process)


# ---- chosen answers against the description, with jsonschema ----

ARTICLE = (
    "VIENNA, June 3 (Reuters) - Iran and the three European powers agreed on Tuesday to resume "
    "talks next week, diplomats said. But Washington warned that further enrichment would bring "
    "new sanctions. The next round is scheduled for June 10 in Geneva."
)


def schema_checker(spec: dict, name: str) -> Draft202012Validator:
    """A validator for one of the document's schemas, its $refs resolved within the document."""
    registry = Registry().with_resource("urn:stance", DRAFT202012.create_resource(spec))
    return Draft202012Validator(
        {"$ref": f"urn:stance#/components/schemas/{name}"}, registry=registry
    )


def schema_name(media: dict) -> str:
    return media["schema"]["$ref"].rsplit("/", 1)[1]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/v1/analyze", {"text": ARTICLE, "explain": True, "actors": True}, 200),
        ("post", "/v1/predict", {"texts": ["We condemn the attack.", "zzz"], "explain": True}, 200),
        ("post", "/v1/predict", {"texts": ["Seoul thanked Tokyo.", "zzz"], "actors": True}, 200),
        ("post", "/v1/predict", {"text": "Talks resume on Monday."}, 200),
        ("get", "/v1/model", None, 200),
        ("get", "/readyz", None, 200),
        ("post", "/v1/feedback", {"text": "Fine.", "label": "neutral", "note": "ok"}, 201),
        ("post", "/v1/analyze", {"text": "   "}, 422),
        ("post", "/v1/feedback", {"text": "x", "label": "angry"}, 422),
        ("post", "/v1/admin/reload", None, 401),
        (
            "post",
            "/v2/models/stance/infer",
            {
                "id": "1",
                "inputs": [
                    {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["We warn."]}
                ],
            },
            200,
        ),
        ("post", "/v2/models/stance/infer", {"inputs": []}, 400),
    ],
)
def test_real_answers_fit_their_schemas(full_app, method, path, body, status):
    client = full_app.test_client()
    spec = client.get("/openapi.json").get_json()
    response = client.open(path, method=method.upper(), json=body)
    assert response.status_code == status, response.get_json()
    operation = spec["paths"][path.replace("/stance/", "/{model_name}/")][method]
    [(media_type, media)] = operation["responses"][str(status)]["content"].items()
    assert response.mimetype == media_type
    schema_checker(spec, schema_name(media)).validate(response.get_json())
    if status < 400 and body is not None:
        request_media = operation["requestBody"]["content"]["application/json"]
        schema_checker(spec, schema_name(request_media)).validate(body)


# ---- schemathesis ----

# The description does not depend on the model, so it is read, once at import, from an app
# that has none and the same configuration; the requests go to `full_app`, which has the model.
# (schemathesis' from_fixture, which would avoid this, does not run under pytest 9.)
# A body over the size limit is refused with 413 before it is read (BODY_PROBLEMS in
# service/openapi.py): as much a rejection of invalid data as the statuses schemathesis expects.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
api_schema = schemathesis.openapi.from_wsgi(
    "/openapi.json",
    create_app({"TESTING": True, "MODEL_DIR": "/nonexistent", **FULL_CONFIG}),
    config=SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [*REJECTIONS, "5xx"]}}}
    ),
)


@pytest.mark.slow
# schemathesis' WSGI transport never closes an answer, and the page's are open files.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@api_schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_app_keeps_every_promise_of_its_description(case, shared_app):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if case.operation.path == "/v1/timeline":
        # Which cells a row needs depends on "by", and a date or a probability must parse:
        # rules JSON Schema cannot state, so a request that fits may be refused for them alone.
        response = case.call_and_validate(
            app=shared_app, headers=auth, excluded_checks=[checks.positive_data_acceptance]
        )
        if case.meta.generation.mode.is_positive and response.status_code == 422:
            assert re.search(r"rows|\"by\"|\"freq\"|date", response.json()["detail"])
        elif case.meta.generation.mode.is_positive:
            assert response.status_code == 200
        return
    if case.operation.path != "/v2/models/{model_name}/infer":
        case.call_and_validate(app=shared_app, headers=auth)
        return
    # JSON Schema cannot say that a tensor's shape must count its data's elements, so a
    # request that fits the schema may still be refused, for that reason alone.
    response = case.call_and_validate(
        app=shared_app, headers=auth, excluded_checks=[checks.positive_data_acceptance]
    )
    if case.meta.generation.mode.is_positive and response.status_code == 400:
        assert "shape" in response.json()["error"]
    elif case.meta.generation.mode.is_positive:
        assert response.status_code == 200
