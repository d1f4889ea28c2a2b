"""POST /v1/timeline through Flask's test client: the same table `stance timeline` writes."""

import csv

import pytest

from service.app import create_app
from service.timeline import aggregate

COLUMNS = ["date", "speaker", "target", "label", "p_conciliatory", "p_neutral", "p_warning"]
# A scored file as `stance score --actors` writes it, cells as text.
ROWS = [
    ["2024-01-03", "USA", "CHN", "warning", "0.05", "0.1", "0.85"],
    ["2024-01-20", "USA", "CHN", "conciliatory", "0.7", "0.2", "0.1"],
    ["2024-02-11", "USA", "CHN", "warning", "0.1", "0.1", "0.8"],
    ["2024-02-12", "CHN", "USA", "neutral", "0.2", "0.6", "0.2"],
    ["2024-02-12T09:30:00Z", "RUS", "UKR", "warning", "0.01", "0.04", "0.95"],
    ["", "RUS", "UKR", "warning", "0.01", "0.04", "0.95"],  # no date
    ["2024-03-01", "", "UKR", "warning", "0.01", "0.04", "0.95"],  # no speaker
    ["2024-03-01", "RUS", "UKR", "", "", "", ""],  # empty text: unscored
]


@pytest.fixture
def client(tmp_path):
    # No model is needed: the rows are scored already.
    app = create_app({"TESTING": True, "MODEL_DIR": str(tmp_path / "none"), "MAX_TIMELINE_ROWS": 8})
    return app.test_client()


def as_objects(rows):
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def test_the_answer_is_the_table_the_command_line_writes(client, tmp_path):
    response = client.post("/v1/timeline", json={"rows": as_objects(ROWS), "freq": "M"})
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    path = tmp_path / "scored.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([COLUMNS, *ROWS])
    table, _ = aggregate(path, ["speaker", "target"], "M")
    assert answer["periods"] == table.to_dict(orient="records")
    assert answer["summary"] == {"rows": 8, "used": 5, "no_date": 1, "no_actor": 1, "unscored": 1}
    assert answer["dyads"] == ["USA-CHN", "CHN-USA", "RUS-UKR"]
    [january] = [p for p in answer["periods"] if (p["dyad"], p["period"]) == ("USA-CHN", "2024-01")]
    assert january["statements"] == 2
    assert january["tone"] == pytest.approx((0.05 + 0.7) / 2 - (0.85 + 0.1) / 2, abs=1e-4)


def test_numbers_and_nulls_are_read_as_the_csv_cells_they_stand_for(client):
    rows = as_objects(ROWS[:3])
    for row in rows:
        row.update({k: float(row[k]) for k in COLUMNS[4:]})
    rows.append({**as_objects(ROWS[7:])[0], "p_warning": None, "label": None})
    answer = client.post("/v1/timeline", json={"rows": rows, "freq": "Q"}).get_json()
    assert [(p["period"], p["statements"]) for p in answer["periods"]] == [("2024Q1", 3)]
    assert answer["summary"]["unscored"] == 1


def test_by_one_column(client):
    answer = client.post(
        "/v1/timeline", json={"rows": as_objects(ROWS), "by": ["speaker"], "freq": "W"}
    ).get_json()
    assert answer["by"] == ["speaker"]
    assert {p["dyad"] for p in answer["periods"]} == {"USA", "CHN", "RUS"}
    assert "target" not in answer["periods"][0]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"rows": "x"}, '"rows" must be an array, not a string.'),
        ({"rows": []}, '"rows" is empty'),
        ({"rows": as_objects(ROWS) + as_objects(ROWS[:1])}, '"rows" has 9 items; at most 8'),
        ({"rows": [1]}, "rows[0] must be an object, not a number."),
        ({"rows": [{"date": "2024-01-01"}]}, 'rows[0] has no "speaker".'),
        ({"rows": as_objects(ROWS[:1]), "freq": "D"}, '"freq" must be one of W, M, Q'),
        ({"rows": as_objects(ROWS[:1]), "by": "speaker"}, '"by" must be an array'),
        ({"rows": as_objects(ROWS[:1]), "by": ["label"]}, '"by" must name distinct'),
        (
            {"rows": [{**as_objects(ROWS[:1])[0], "speaker": True}]},
            "rows[0].speaker must be a string or a number, not a boolean.",
        ),
        (
            {"rows": [{**as_objects(ROWS[:1])[0], "p_warning": "high"}]},
            "rows[0].p_warning must be a probability, not 'high'.",
        ),
        (
            {"rows": [{**as_objects(ROWS[:1])[0], "p_warning": 1.5}]},
            "rows[0].p_warning must be between 0 and 1",
        ),
        ({"rows": as_objects(ROWS[5:])}, "rows: no scored row has both a date"),
    ],
)
def test_bad_rows_are_a_problem_naming_the_cell(client, body, detail):
    response = client.post("/v1/timeline", json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert detail in response.get_json()["detail"]


def test_not_json_is_refused_like_the_other_endpoints(client):
    response = client.post("/v1/timeline", data="rows", content_type="text/plain")
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"


def test_a_date_pandas_reads_as_year_minus_one_is_no_date(client):
    # schemathesis found it: "-1" parsed to the year -1, which Python's dates cannot hold (500).
    rows = as_objects(ROWS[:1])
    response = client.post("/v1/timeline", json={"rows": [*rows, {**rows[0], "date": "-1"}]})
    assert response.status_code == 200
    assert response.get_json()["summary"]["no_date"] == 1
