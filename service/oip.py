"""The Open Inference Protocol (KServe V2) beside our own API, over the same model slot.

KServe, Seldon, MLServer and Triton clients call Stance as the model `stance`: one BYTES input
tensor `text` (the statements), two outputs, `probabilities` (FP64 [n, 3], columns in LABELS
order) and `label` (BYTES [n]). Errors are `{"error": "..."}` with a 4xx or 5xx status, as the
protocol says, not problem+json.
"""

import functools
import math
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from model.labels import LABELS
from model.predict import decide
from service.api import count_labels
from service.model_slot import get_model_slot, get_predictor
from service.openapi import operation, package_version
from service.schemas import NOT_BLANK, Limits, Request, optional

MODEL_NAME = "stance"
INPUT = "text"
OUTPUTS = ("probabilities", "label")
# The protocol's own names for its parameters: a mapping of names to plain values.
Parameters = dict[str, str | int | float | bool]

oip = Blueprint("oip", __name__)


class OipError(BaseModel):
    """An error, as the Open Inference Protocol writes it."""

    model_config = ConfigDict(extra="forbid")
    error: str


OIP = {
    "tag": "open inference",
    "error": OipError,
    "error_media_type": "application/json",
    "body_problems": (400, 413, 415),  # a request that does not fit is a 400 in this protocol
    "parameters": {"model_name": (MODEL_NAME,)},
}


@oip.before_request
def protocol_request() -> None:
    """Refuse an unknown model first; take a body without Content-Type as the JSON it must be."""
    model_name = (request.view_args or {}).get("model_name")
    if model_name is not None and model_name != MODEL_NAME:
        raise NotFound(f"Unknown model {model_name!r}: this server serves {MODEL_NAME!r}.")
    # Protocol clients (tritonclient's, for one) send JSON without saying so.
    if request.method == "POST" and not request.headers.get("Content-Type"):
        request.environ["CONTENT_TYPE"] = "application/json"


@oip.errorhandler(HTTPException)
def protocol_error(error: HTTPException) -> tuple[Response, int]:
    # The protocol knows 400 for a request it cannot use: our 422 (valid JSON, wrong fields) is
    # a 400 here. 404, 405, 413, 415 and 503 keep their meaning.
    status = 400 if error.code == 422 else error.code or 500
    response = jsonify(error=error.description or error.name)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers.add(name, value)
    return response, status


class TensorMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    datatype: Literal["BYTES", "FP64"]
    shape: list[int] = Field(description="-1 is a dimension of any size.")


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class RequestOutput(Request):
    name: Literal[OUTPUTS]  # type: ignore[valid-type]
    parameters: Parameters = optional("Not used by Stance.")


@functools.cache
def infer_request(limits: Limits) -> type[Request]:
    Text = Annotated[str, Field(max_length=limits.max_text_chars, pattern=NOT_BLANK)]

    class TextInput(Request):
        """The statements, as a BYTES tensor named "text": shape [n] (or [n, 1] for a column)."""

        name: Literal[INPUT]  # type: ignore[valid-type]
        shape: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=2)
        datatype: Literal["BYTES"]
        parameters: Parameters = optional("Not used by Stance.")
        data: list[Text] = Field(
            min_length=1,
            max_length=limits.max_texts,
            description="The texts, flat (row-major); as many as the shape says.",
        )

    class InferenceRequest(Request):
        id: str = optional("Echoed in the answer.")
        parameters: Parameters = optional("Not used by Stance.")
        inputs: list[TextInput] = Field(min_length=1, max_length=1)
        outputs: list[RequestOutput] = optional(
            "Which outputs to answer; all of them when left out."
        )

    return InferenceRequest


class ResponseOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Literal[OUTPUTS]  # type: ignore[valid-type]
    shape: list[int]
    datatype: Literal["FP64", "BYTES"]
    data: list[float] | list[str] = Field(description="Row-major, flat.")


class InferenceResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_name: Literal[MODEL_NAME]  # type: ignore[valid-type]
    model_version: str
    id: str = optional("The request's id, when it sent one.")
    outputs: list[ResponseOutput]


def texts_of(tensor: Any) -> list[str]:
    """Return the statements of the text tensor, once its shape is checked against its data."""
    if len(tensor.shape) == 2 and tensor.shape[1] != 1:
        raise BadRequest(f"input {INPUT} must have shape [n] or [n, 1], not {tensor.shape}.")
    if math.prod(tensor.shape) != len(tensor.data):
        raise BadRequest(
            f"input {INPUT} has shape {tensor.shape} but {len(tensor.data)} elements in its data."
        )
    return tensor.data


@oip.get("/v2")
@operation("Server metadata", answers={200: ServerMetadata}, **OIP)
def server_metadata():
    return jsonify(name=MODEL_NAME, version=package_version(), extensions=[])


@oip.get("/v2/health/live")
@operation("Server live: the process answers", answers={200: Live}, **OIP)
def live():
    return jsonify(live=True)


@oip.get("/v2/health/ready")
@operation(
    "Server ready: the model is loaded and verified",
    answers={200: ServerReady},
    problems={503: "No model is loaded yet."},
    **OIP,
)
def ready():
    get_predictor()  # 503 with the reason until a model is loaded
    return jsonify(ready=True)


@oip.get("/v2/models/<model_name>")
@operation(
    "Model metadata: the input and output tensors",
    answers={200: ModelMetadata},
    problems={404: "No model of that name.", 503: "No model is loaded yet."},
    **OIP,
)
def model_metadata(model_name: str):
    return jsonify(
        name=MODEL_NAME,
        versions=[get_predictor().version],
        platform="sklearn",
        inputs=[{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
        outputs=[
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(LABELS)]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ],
    )


@oip.get("/v2/models/<model_name>/ready")
@operation(
    "Model ready",
    answers={200: ModelReady},
    problems={404: "No model of that name."},
    **OIP,
)
def model_ready(model_name: str):  # the name is checked by protocol_request
    return jsonify(name=MODEL_NAME, ready=get_model_slot().predictor is not None)


@oip.post("/v2/models/<model_name>/infer")
@operation(
    "Label statements, as the Open Inference Protocol asks",
    body=infer_request,
    answers={200: InferenceResponse},
    problems={
        400: "Not valid JSON, or not a valid inference request for this model (the error says "
        "which field); the protocol's 400 stands for our 422.",
        404: "No model of that name.",
        503: "No model is loaded yet.",
    },
    description="The probabilities' columns are in the order of GET /v1/model's labels: "
    + ", ".join(LABELS)
    + ".",
    **OIP,
)
def infer(model_name: str, body):
    texts = texts_of(body.inputs[0])
    predictor = get_predictor()
    probabilities = predictor.probabilities(texts)
    labels = decide(probabilities).tolist()
    count_labels(labels)
    outputs = {
        "probabilities": {
            "name": "probabilities",
            "shape": [len(texts), len(LABELS)],
            "datatype": "FP64",
            "data": probabilities.ravel().tolist(),
        },
        "label": {"name": "label", "shape": [len(texts)], "datatype": "BYTES", "data": labels},
    }
    wanted = [output.name for output in body.outputs] if body.outputs else OUTPUTS
    answer = {"model_name": MODEL_NAME, "model_version": predictor.version}
    if body.id is not None:
        answer["id"] = body.id
    answer["outputs"] = [outputs[name] for name in wanted]
    return jsonify(answer)
