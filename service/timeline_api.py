"""POST /v1/timeline: tone per dyad and period for rows of a scored file, as `stance timeline`.

The page sends the rows of a scored CSV it was given; the counting and the tone are
service/timeline.py's, so the page and the command line cannot disagree.
"""

import math
from dataclasses import asdict
from typing import Any

import pandas as pd
from flask import Blueprint, jsonify
from werkzeug.exceptions import UnprocessableEntity

from model.labels import DATE_COLUMN, LABELS
from service.openapi import operation
from service.schemas import TimelineResponse, json_type, timeline_request
from service.timeline import (
    DEFAULT_TOP,
    FREQUENCIES,
    PROBABILITY_COLUMNS,
    TimelineError,
    aggregate_chunks,
    choose_dyads,
    columns_needed,
)

timeline_api = Blueprint("timeline_api", __name__)


def rows_from(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Return the rows as a frame of strings, as a scored CSV reads; 422 names a bad cell."""
    cells: dict[str, list[str]] = {column: [] for column in columns}
    for index, row in enumerate(rows):
        for column in columns:
            if column not in row:
                raise UnprocessableEntity(f'rows[{index}] has no "{column}".')
            cells[column].append(cell(row[column], f"rows[{index}].{column}"))
        if row["label"] in LABELS:
            for column in PROBABILITY_COLUMNS:
                probability(cells[column][-1], f"rows[{index}].{column}")
    return pd.DataFrame(cells, dtype=str)


def cell(value: Any, name: str) -> str:
    """A cell as the CSV reader sees it: text, a number's text, or empty for null."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    raise UnprocessableEntity(f"{name} must be a string or a number, not {json_type(value)}.")


def probability(text: str, name: str) -> None:
    try:
        value = float(text)
    except ValueError:
        raise UnprocessableEntity(f"{name} must be a probability, not {text!r}.") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise UnprocessableEntity(f"{name} must be between 0 and 1, not {text}.")


def by_from(by: list[str]) -> list[str]:
    reserved = {DATE_COLUMN, "label", *PROBABILITY_COLUMNS}
    if len(set(by)) != len(by) or reserved & set(by):
        raise UnprocessableEntity(f'"by" must name distinct actor columns, not {", ".join(by)}.')
    return by


@timeline_api.post("/v1/timeline")
@operation(
    "Tone per dyad and period for the rows of a scored file",
    tag="model",
    body=timeline_request,
    answers={200: TimelineResponse},
    description="What `stance timeline` computes, by the same code (service/timeline.py), for "
    "the page's timeline of an uploaded scored file; bigger files: the command line.",
)
def timeline(body):
    freq = body.freq
    if freq not in FREQUENCIES:
        raise UnprocessableEntity(f'"freq" must be one of {", ".join(FREQUENCIES)}, not {freq!r}.')
    by = by_from(body.by)
    frame = rows_from(body.rows, columns_needed(by, DATE_COLUMN))
    try:
        table, summary = aggregate_chunks([frame], by, freq, DATE_COLUMN, "rows")
    except TimelineError as error:
        raise UnprocessableEntity(f"{error}.") from None
    return jsonify(
        freq=freq,
        by=by,
        # What `stance timeline` draws by default: the dyads with the most statements.
        dyads=choose_dyads(table, None, DEFAULT_TOP),
        periods=table.to_dict(orient="records"),
        summary={k: v for k, v in asdict(summary).items() if k != "dyads"},  # dyads: above
    )
