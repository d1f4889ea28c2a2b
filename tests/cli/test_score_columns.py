"""`stance score` with dates, sources, actors and labels: every field as written, rows in order."""

import csv
import json

import pandas as pd
import pytest

from service.batch import ACTOR_COLUMNS, OUTPUT_COLUMNS, PREDICTION_PREFIX
from service.cli import main

SEED = "The U.S. has warned China against interfering in the elections."
OPENNESS = "Taiwan's presidential candidate expressed openness to discussions with Beijing."
TRUMP = "Trump praised Kim Jong Un for his restraint."

# Dates and sources as real files have them: zones, times, junk, empty cells, quotes, commas and
# line breaks, text that looks like a missing value or a number.
ROWS = [
    ["id", "published", "outlet", "text"],
    ["1", "2024-03-05", "Reuters", SEED],
    ["2", "2024-03-05T23:30:00-05:00", 'AP, "wire"', OPENNESS],
    ["3", "2019-06-30", "pool\nreport", TRUMP],
    ["4", "2022-06-01", "NA", TRUMP],
    ["5", "not a date", "None", "Talks will resume in Geneva on Monday."],
    ["6", "", "", ""],
    ["7", "01/02/2024", "1.50", "  "],
    ["8", "2024-02-29 08:00", "Xinhua 新华社", "Beijing warned Washington against the arms sale."],
]


def read_rows(path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def score(runner, source, destination, *options: str):
    return runner.invoke(main, ["score", str(source), "-o", str(destination), *options])


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_dates_and_sources_pass_through_as_written_with_the_actors_added(
    runner, write_csv, tmp_path, jobs
):
    source = write_csv("in.csv", ROWS)
    out = tmp_path / "out.csv"
    result = score(
        runner,
        source,
        out,
        *("--date-column", "published", "--source-column", "outlet", "--actors"),
        *("-j", jobs, "--chunk-rows", "3"),
    )
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert rows[0] == [*ROWS[0], *OUTPUT_COLUMNS, *ACTOR_COLUMNS]
    width = len(ROWS[0])
    assert [row[:width] for row in rows] == ROWS  # nothing lost, changed or re-ordered
    actors = {row[0]: tuple(row[-2:]) for row in rows[1:]}
    assert actors["1"] == ("USA", "CHN")
    assert actors["2"] == ("TWN", "CHN")
    assert actors["3"] == ("USA", "PRK")  # Trump in office on that day
    assert actors["4"] == ("", "PRK")  # and out of office on this one: only mentioned
    assert actors["6"] == actors["7"] == ("", "")  # no text, no actors
    assert actors["8"] == ("CHN", "USA")


def test_without_the_options_the_columns_still_pass_through(runner, write_csv, tmp_path):
    source = write_csv("in.csv", ROWS)
    result = score(runner, source, tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    rows = read_rows(tmp_path / "out.csv")
    assert rows[0] == [*ROWS[0], *OUTPUT_COLUMNS]
    assert [row[: len(ROWS[0])] for row in rows] == ROWS


def test_json_lines_keep_their_dates_and_sources(runner, tmp_path):
    source = tmp_path / "in.jsonl"
    records = [
        {"date": "2024-03-05", "source": 7, "text": SEED},
        {"date": None, "source": "wire", "text": OPENNESS},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = score(
        runner, source, out, "--date-column", "date", "--source-column", "source", "--actors"
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["date"], r["source"]) for r in lines] == [("2024-03-05", "7"), ("", "wire")]
    assert [(r["speaker"], r["target"]) for r in lines] == [("USA", "CHN"), ("TWN", "CHN")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--date-column", "date"], "no column 'date' in the input; its columns are: id, "),
        (["--source-column", "src"], "no column 'src' in the input"),
    ],
)
def test_a_missing_date_or_source_column_is_exit_2_naming_it(
    runner, write_csv, tmp_path, options, message
):
    source = write_csv("in.csv", ROWS)
    result = score(runner, source, tmp_path / "out.csv", *options)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and options[0] in lines[0]
    assert not (tmp_path / "out.csv").exists()


def test_actors_refuse_an_input_that_has_their_prefixed_columns_too(runner, write_csv, tmp_path):
    source = write_csv("in.csv", [["text", "speaker", "pred_speaker"], [SEED, "someone", "x"]])
    result = score(runner, source, tmp_path / "out.csv", "--actors")
    assert result.exit_code == 2
    assert "already has output column(s) pred_speaker" in result.output
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("output", ["out.csv", "out.parquet"])
def test_a_labelled_file_gets_the_predictions_beside_its_labels(
    runner, predictor, tmp_path, output
):
    from training.data import read_labelled

    from ..helpers import TEST_DATA

    labelled = read_labelled(TEST_DATA).head(40)
    source = tmp_path / "labelled.csv"
    labelled.to_csv(source, index=False)
    result = score(runner, source, tmp_path / output, "--actors")
    assert result.exit_code == 0, result.output
    assert "written as pred_label, ... (the input has those names)" in result.stderr
    if output.endswith(".parquet"):
        out = pd.read_parquet(tmp_path / output)
    else:
        out = pd.read_csv(tmp_path / output, dtype=str, keep_default_na=False)
    prefixed = [PREDICTION_PREFIX + c for c in (*OUTPUT_COLUMNS, *ACTOR_COLUMNS)]
    assert list(out.columns) == [*labelled.columns, *prefixed]
    assert out["label"].tolist() == labelled["label"].tolist()  # the file's own labels, kept
    assert out["pred_label"].tolist() == [
        p.label for p in predictor.predict(labelled["text"].tolist())
    ]
