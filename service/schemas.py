"""What the API accepts and answers, described once: pydantic models validate each request body
and the same models write the OpenAPI description (service/openapi.py).

Request models depend on the deployment's limits (STANCE_MAX_TEXTS, ...), so each is made by a
function of `Limits`, cached: one class per set of limits, built once. Answer models only
describe: the views build their answers from the core's records, and the schemathesis test
checks that every real answer fits its model.
"""

import functools
import json
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal

from flask import Flask, current_app, request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnprocessableEntity,
    UnsupportedMediaType,
)

from model.labels import ACTOR_COLUMNS, LABELS, LIMITS

# "Is there text to score?", stated once for the server and the description alike: at least one
# character that is not white space, where white space is exactly what str.isspace() calls so
# (tests/service/test_openapi.py checks every code point). Spelled out so JSON Schema validators in
# every language, whose \s differ, read it the same way.
NOT_BLANK = "[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

Label = Literal[LABELS]  # type: ignore[valid-type]
Probability = Annotated[float, Field(ge=0, le=1)]


@dataclass(frozen=True)
class Limits:
    """What one request may hold, from the app's config (defaults: model/labels.py LIMITS)."""

    max_texts: int
    max_text_chars: int
    max_document_chars: int
    max_note_chars: int
    max_body_bytes: int
    max_timeline_rows: int

    @classmethod
    def of(cls, app: Flask) -> "Limits":
        config = app.config
        return cls(
            max_texts=int(config["MAX_TEXTS"]),
            max_text_chars=int(config["MAX_TEXT_CHARS"]),
            max_document_chars=int(config["MAX_DOCUMENT_CHARS"]),
            max_note_chars=LIMITS["max_note_chars"],
            max_body_bytes=int(config["MAX_CONTENT_LENGTH"]),
            max_timeline_rows=int(config["MAX_TIMELINE_ROWS"]),
        )


def limits() -> "Limits":
    """Return the current app's limits, read from its config once."""
    found = current_app.extensions.get("stance_limits")
    if found is None:
        found = current_app.extensions["stance_limits"] = Limits.of(current_app)
    return found


class Request(BaseModel):
    """A request body: JSON types as sent, nothing coerced ("1" is not 1, 1 is not true)."""

    model_config = ConfigDict(strict=True)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(description: str, **constraints: Any) -> Any:
    """A field that may be left out but is never null: absent, not "default": null."""
    return Field(None, description=description, json_schema_extra=_no_default, **constraints)


def text_field(max_chars: int, description: str) -> Any:
    return Annotated[str, Field(max_length=max_chars, pattern=NOT_BLANK, description=description)]


@functools.cache
def predict_request(limits: Limits) -> type[Request]:
    Text = text_field(limits.max_text_chars, "A statement: not empty, not only white space.")

    class PredictRequest(Request):
        """Send either `texts` (answered in the same order) or `text` (one string), not both."""

        model_config = ConfigDict(
            json_schema_extra={"oneOf": [{"required": ["texts"]}, {"required": ["text"]}]},
        )

        texts: list[Text] = optional("The statements.", min_length=1, max_length=limits.max_texts)
        text: Text = optional("One statement; the answer is the same, with one prediction.")
        explain: bool = Field(
            False, description="Add the terms that pushed each call toward its label and against."
        )
        actors: bool = Field(
            False, description="Add the actors each text names, with ids, offsets and roles."
        )

        @model_validator(mode="before")
        @classmethod
        def one_of_text_and_texts(cls, body: Any) -> Any:
            if isinstance(body, dict) and ("text" in body) == ("texts" in body):
                raise PydanticCustomError(
                    "text_or_texts", 'Send either "texts": ["...", ...] or "text": "...", not both.'
                )
            return body

        @property
        def statements(self) -> list[str]:
            return self.texts if self.texts is not None else [self.text]

    return PredictRequest


@functools.cache
def analyze_request(limits: Limits) -> type[Request]:
    class AnalyzeRequest(Request):
        """A whole document, split into sentences and labelled sentence by sentence."""

        text: text_field(limits.max_document_chars, "The document.")  # type: ignore[valid-type]
        explain: bool = Field(False, description="Add each sentence's terms, as for predict.")
        actors: bool = Field(
            False, description="Add each sentence's actors; their offsets are into the document."
        )

    return AnalyzeRequest


@functools.cache
def feedback_request(limits: Limits) -> type[Request]:
    class FeedbackRequest(Request):
        """The label a person says a statement should have."""

        model_config = ConfigDict(extra="forbid")

        # The store's own limits (training/feedback.py), whatever the API's are.
        text: text_field(LIMITS["max_text_chars"], "The statement.")  # type: ignore[valid-type]
        label: Label
        note: str | None = Field(None, max_length=limits.max_note_chars)

    return FeedbackRequest


# A cell of a scored file as JSON: text as the CSV holds it, a number, or null for empty. The
# view converts cells (service/timeline_api.py), naming a bad one; the schema only describes.
Cell = Annotated[Any, Field(json_schema_extra={"type": ["string", "number", "null"]})]


@functools.cache
def timeline_request(limits: Limits) -> type[Request]:
    class TimelineRequest(Request):
        """The rows of a scored file (`stance score --actors --date-column date`), to group."""

        rows: list[dict[str, Cell]] = Field(
            min_length=1,
            max_length=limits.max_timeline_rows,
            description="Each row's date, actor columns, label and p_<label> cells.",
        )
        freq: str = Field("M", description="The period: W (week), M (month) or Q (quarter).")
        by: list[Annotated[str, Field(min_length=1)]] = Field(
            list(ACTOR_COLUMNS), min_length=1, description="The actor columns of a dyad."
        )

    return TimelineRequest


def validated(model: type[Request], body: Any) -> Request:
    """Return body as model, or raise 422 whose detail names each field that is wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = [message(detail, model) for detail in error.errors(include_url=False)]
        more = f" ({len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UnprocessableEntity(" ".join(problems[:3]) + more) from None


def validated_body(model: type[Request]) -> Request:
    """Return the request's JSON body as model (4xx for a body that is not JSON or not valid)."""
    raw = json_body()
    try:
        # pydantic parses and validates a good body in one step, sooner than json.loads and then
        # validation (2 of a one-text request's ~50 us in the app). A body it refuses is read
        # the long way, which says what is wrong in the words below: it is parsed twice (a bad
        # one-text body 9 against 7 us), which only bad bodies pay.
        return model.model_validate_json(raw)
    except ValidationError:
        pass
    return validated(model, parsed_json(raw))


def json_body() -> bytes:
    """Return the request body, or raise 415 unless its Content-Type is JSON."""
    # The common case read straight from the environ; any other Content-Type is parsed.
    exact = request.environ.get("CONTENT_TYPE") == "application/json"
    mimetype = "application/json" if exact else request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Send the body as JSON with Content-Type: application/json (got {mimetype or 'none'})."
        )
    return read_body()


def parsed_json(raw: bytes) -> Any:
    """Return the JSON value of raw, or raise the 400 that says what is wrong with it."""
    try:
        # JSON is UTF-8 only: json.loads would also guess UTF-16 and UTF-32 from bytes. A UTF-8
        # byte order mark is tolerated (RFC 8259 allows ignoring it).
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BadRequest("The body is not valid UTF-8.") from None
    except RecursionError:
        raise BadRequest("The JSON body is nested too deeply.") from None
    except ValueError as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None


def read_body() -> bytes:
    """Return the request body, or raise 413 over MAX_CONTENT_LENGTH and 400 if it is unreadable."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    environ = request.environ
    length = environ.get("CONTENT_LENGTH", "")
    if environ.get("wsgi.input_terminated") and length.isascii() and length.isdigit():
        # The common case under gunicorn, which ends the input at Content-Length itself, so
        # werkzeug's stream would be the server's own: read it without building one.
        if int(length) > limit:
            raise RequestEntityTooLarge()
        try:
            return environ["wsgi.input"].read(int(length))
        except Exception as error:  # as below: a body the server could not read
            raise BadRequest(f"The body could not be read: {error}.") from None
    try:
        if request.content_length is None and request.environ.get("wsgi.input_terminated"):
            # A chunked body has no length to check up front, and werkzeug's stream silently
            # stops at the limit: read one byte more than allowed to tell "over" from "at".
            raw = request.input_stream.read(limit + 1)
            if len(raw) > limit:
                raise RequestEntityTooLarge()
            return raw
        return request.get_data(cache=True)  # over MAX_CONTENT_LENGTH this raises 413
    except HTTPException:
        raise
    except Exception as error:  # the server could not decode the body, e.g. a bad chunk size
        raise BadRequest(f"The body could not be read: {error}.") from None


def json_type(value: Any) -> str:
    """Name value's JSON type with its article: "a string", "an array"."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def message(detail: ErrorDetails, model: type[BaseModel]) -> str:
    """Say what is wrong with one field the way a person would fix it."""
    loc, kind, value, context = detail["loc"], detail["type"], detail["input"], detail.get("ctx")
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]
    field = f'"{path}"' if path and not isinstance(loc[-1], int) else path
    if not loc and kind in ("model_type", "dict_type"):
        return f"The body must be a JSON object, not {json_type(value)}."
    match kind:
        case "missing":
            return f"{field} is missing."
        case "extra_forbidden":
            known = ", ".join(f'"{name}"' for name in model.model_fields)
            return f"Unknown field {field}: the fields are {known}."
        case "string_type":
            return f"{field} must be a string, not {json_type(value)}."
        case "bool_type":
            return f"{field} must be true or false, not {json_type(value)}."
        case "list_type":
            return f"{field} must be an array, not {json_type(value)}."
        case "dict_type":
            return f"{field} must be an object, not {json_type(value)}."
        case "int_type" | "float_type":
            return f"{field} must be a number, not {json_type(value)}."
        case "string_pattern_mismatch" if context and context.get("pattern") == NOT_BLANK:
            return f"{path} is empty."
        case "string_too_long":
            return (
                f"{path} has {len(value)} characters; at most {context['max_length']} are allowed."
            )
        case "too_short" if isinstance(value, list) and not value:
            return f"{field} is empty: send at least one."
        case "too_long" if isinstance(value, list):
            return f"{field} has {len(value)} items; at most {context['max_length']} are allowed."
        case "literal_error" if not isinstance(value, str):
            return f"{field} must be a string, not {json_type(value)}."
        case "literal_error":
            return f"{path} is {value!r}; it must be one of {context['expected']}."
        case _ if not loc:
            return detail["msg"]  # a rule of the whole body, such as "text" or "texts"
    return f"{path}: {detail['msg']}."


# ---- answers: for the description only ----


def per_label(name: str, kind: Any, doc: str) -> type[BaseModel]:
    """A model with one required field per label, in LABELS order."""
    return create_model(
        name,
        __doc__=doc,
        __config__=ConfigDict(extra="forbid"),
        **{label: (kind, ...) for label in LABELS},
    )


Probabilities = per_label("Probabilities", Probability, "One probability per label; they add to 1.")
Counts = per_label("Counts", Annotated[int, Field(ge=0)], "Sentences per label.")
Shares = per_label("Shares", Probability, "Share of the sentences per label.")


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Term(Answer):
    """One feature's exact contribution to the label's logit: coefficient times TF-IDF value."""

    term: str
    weight: float


class Explanation(Answer):
    """Why the model chose the label: intercept + the weights of all terms = the label's logit."""

    label: Label
    logit: float
    intercept: float
    toward: list[Term] = Field(description="Terms that pushed toward the label, strongest first.")
    against: list[Term] = Field(description="Terms that pushed against it, strongest first.")


class Hint(Answer):
    """One actor the text names."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str = Field(description="The name as written: text[start:end].")
    id: str = Field(description="ISO 3166-1 alpha-3 for a state, else an id in model/actors.csv.")
    actor: str = Field(description="The gazetteer's name for the actor.")
    kind: Literal["state", "organisation", "group", "leader", "seat"]
    role: Literal["speaker", "target", "mentioned"]


class Actors(Answer):
    """Who speaks and to whom: the first speaker's and target's ids (null when none)."""

    speaker: str | None
    target: str | None
    hints: list[Hint]


class Prediction(Answer):
    label: Label
    confidence: Probability = Field(description="The probability of the label.")
    probabilities: Probabilities  # type: ignore[valid-type]
    explanation: Explanation = optional('Only with "explain": true.')
    actors: Actors = optional('Only with "actors": true.')


class PredictResponse(Answer):
    model_version: str
    predictions: list[Prediction] = Field(description="One per text, in the order sent.")


class Sentence(Prediction):
    text: str
    start: int = Field(ge=0, description="text[start:end] of the document is the sentence.")
    end: int = Field(ge=0)


class Summary(Answer):
    counts: Counts  # type: ignore[valid-type]
    shares: Shares  # type: ignore[valid-type]
    tone: float = Field(
        ge=-1, le=1, description="Mean p(conciliatory) minus mean p(warning) over the sentences."
    )


class AnalyzeResponse(Answer):
    model_version: str
    sentences: list[Sentence]
    summary: Summary


# GET /v1/model's "limits": the fields of Limits, named once there.
LimitsAnswer = create_model(
    "LimitsAnswer",
    __base__=Answer,
    __doc__="What one request may hold on this server.",
    **{limit.name: (int, ...) for limit in fields(Limits)},
)


class ModelInfo(Answer):
    version: str
    labels: list[Label]
    trained_at: str
    metrics: dict[str, Any] = Field(description="Cross-validated and held-out scores.")
    data: dict[str, Any] = Field(description="The training and test files: names, SHA-256, rows.")
    params: dict[str, Any] = Field(description="The pipeline's chosen parameters.")
    library_versions: dict[str, str]
    event_data: dict[str, Any] = Field(
        description="How the labels map to CAMEO root codes and PLOVER types (data/GUIDELINES.md)."
    )
    limits: LimitsAnswer
    function_words: list[str] = Field(
        description="Words an explanation shows after the content words (model/function_words.py)."
    )


class TimelineSummary(Answer):
    rows: int
    used: int = Field(description="Rows with a date, the actors and a label.")
    no_date: int
    no_actor: int
    unscored: int


class TimelineResponse(Answer):
    freq: str
    by: list[str]
    dyads: list[list[str]] = Field(description="The dyads with the most statements, as drawn.")
    periods: list[dict[str, Any]] = Field(
        description="One row per dyad and period: `stance timeline`'s columns (counts, shares, "
        "tone)."
    )
    summary: TimelineSummary


class Health(Answer):
    status: Literal["ok"]


class Ready(Answer):
    status: Literal["ready"]
    model_version: str
    model_dir: str


class FeedbackRecord(Answer):
    id: int
    created_at: str
    model_version: str | None
    text: str
    label: Label
    note: str | None = Field(description="null when none was sent or it was only white space.")


class Reloaded(Answer):
    model_version: str
    previous_version: str | None


class Problem(Answer):
    """An error, as RFC 9457 application/problem+json."""

    type: str = Field(examples=["about:blank"])
    title: str = Field(description="The HTTP status's name.")
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="What is wrong, in words a person can act on.")
