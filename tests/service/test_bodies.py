"""A request body that pydantic parses and validates in one step (validated_body's fast way) is
the body json.loads and validation make of it: the fast way changes no answer, only its cost."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from service.app import create_app
from service.schemas import Limits, parsed_json, validated

# Any code point, lone surrogates too: json.dumps writes them as escapes, which json.loads reads.
TEXT = st.text(st.characters(codec=None, categories=None), max_size=12) | st.sampled_from(
    ["We warn them.", " ", "", "\u00a0x", "\ufeff"]
)
# A good body of each operation, which the tests vary: most variants stay good, some do not.
GOOD = {
    "PredictRequest": [
        {"texts": ["We warn them.", "Talks resume."]},
        {"text": "x", "explain": True},
    ],
    "AnalyzeRequest": [{"text": "He warned them. They met.", "explain": False, "actors": True}],
    "FeedbackRequest": [{"text": "We warn them.", "label": "warning", "note": "a threat"}],
    "InferenceRequest": [
        {
            "id": "1",
            "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["x"]}],
            "outputs": [{"name": "label"}],
        }
    ],
    "TimelineRequest": [
        {
            "rows": [
                {"date": "2024-01-05", "speaker": "USA", "label": "warning", "p_warning": 0.9}
            ],
            "freq": "M",
        }
    ],
}


def varied(value):
    """A strategy for value with a part of it replaced now and then: leaves, keys, items."""
    if isinstance(value, dict):
        items = {key: varied(item) for key, item in value.items()}
        same = st.fixed_dictionaries(items)
        fewer = st.fixed_dictionaries({}, optional=items)
        more = st.tuples(same, st.dictionaries(st.sampled_from(["x", *value]), varied(""))).map(
            merged
        )
        return now_and_then(same, fewer | more)
    if isinstance(value, list):
        same = st.tuples(*map(varied, value)).map(list)
        return now_and_then(same, st.lists(st.one_of(list(map(varied, value))), max_size=3))
    if isinstance(value, bool):
        return now_and_then(st.just(value), st.booleans() | st.none())
    if isinstance(value, int | float):
        return now_and_then(st.just(value), st.integers() | st.floats() | TEXT)
    return now_and_then(st.just(value), TEXT | st.none() | st.integers())


def now_and_then(same: st.SearchStrategy, other: st.SearchStrategy) -> st.SearchStrategy:
    """same seven times in eight, other the eighth: most bodies stay good, so both ways run."""
    return st.integers(0, 7).flatmap(lambda roll: other if roll == 0 else same)


def merged(pair: tuple[dict, dict]) -> dict:
    return pair[0] | pair[1]


def body_models() -> list:
    """Every operation's body model, as this app's limits make them."""
    app = create_app({"TESTING": True, "MODEL_DIR": "/nonexistent"})
    limits = Limits.of(app)
    specs = [getattr(view, "openapi", None) for view in app.view_functions.values()]
    return [spec.body(limits) for spec in specs if spec is not None and spec.body is not None]


MODELS = body_models()


@st.composite
def raw_bodies(draw, model) -> bytes:
    body = draw(st.one_of([varied(good) for good in GOOD[model.__name__]]))
    raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # and now and then a byte that breaks it, or a mark before it
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\\", b'"', b"\n", b"\xef\xbb\xbf"]))
            + raw[at:]
        )
    return raw


def test_every_operation_with_a_body_has_a_good_body_to_vary():
    assert sorted(model.__name__ for model in MODELS) == sorted(GOOD)
    for model in MODELS:
        for good in GOOD[model.__name__]:
            assert model.model_validate_json(json.dumps(good)) == validated(model, good)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_what_pydantic_reads_in_one_step_is_what_json_loads_and_validation_read(model, data):
    raw = data.draw(raw_bodies(model))
    try:
        fast = model.model_validate_json(raw)
    except ValidationError:
        return  # validated_body then reads it the long way, as before
    try:
        slow = validated(model, parsed_json(raw))
    except HTTPException as error:
        pytest.fail(f"pydantic read {raw!r} but the long way refuses it: {error.description}")
    assert repr(fast) == repr(slow)  # repr, where NaN is NaN
