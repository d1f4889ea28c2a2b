"""`stance timeline` on a real scored file: the table, the chart, and the dyads it draws."""

import csv
import datetime

import pandas as pd
import pytest
from PIL import Image

from model.actors import find_actors, speaker_and_target
from service.cli import main
from service.timeline import aggregate, choose_dyads, draw
from training.data import read_labelled

from ..helpers import NEWS_TEST_DATA, TEST_DATA

MONTHS = [f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in (3, 17)]


@pytest.fixture(scope="module")
def scored(tmp_path_factory, model_dir):
    """Real statements dated over 2024, scored by stance with their speakers and targets."""
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("timeline")
    texts = [t for path in (NEWS_TEST_DATA, TEST_DATA) for t in read_labelled(path)["text"]]
    rows = [[text, MONTHS[i % len(MONTHS)]] for i, text in enumerate(texts)]
    source = folder / "statements.csv"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text", "date"], *rows])
    out = folder / "scored.csv"
    result = CliRunner().invoke(
        main,
        ["score", str(source), "-o", str(out), "--model-dir", str(model_dir),
         "--actors", "--date-column", "date"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_score_names_the_speaker_and_target_the_actor_parser_finds(scored):
    rows = read(scored)[["text", "date", "speaker", "target"]].head(200)
    for text, date, speaker, target in rows.itertuples(index=False):
        found = speaker_and_target(find_actors(text, datetime.date.fromisoformat(date)))
        assert (speaker, target) == tuple(actor or "" for actor in found)


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"speaker": str, "target": str}, keep_default_na=False)


def test_timeline_writes_the_table_and_the_chart(runner, scored, tmp_path):
    frame = read(scored)
    dyads = (frame["speaker"] + "-" + frame["target"])[
        (frame["speaker"] != "") & (frame["target"] != "")
    ]
    wanted = dyads.value_counts().index[:2].tolist()
    out = tmp_path / "timeline.csv"
    result = runner.invoke(
        main, ["timeline", str(scored), "-o", str(out), "--freq", "M", "--dyads", ",".join(wanted)]
    )
    assert result.exit_code == 0, result.output
    table = read(out)
    assert list(table.columns) == [
        "period", "period_start", "speaker", "target", "dyad", "statements",
        "n_conciliatory", "n_neutral", "n_warning",
        "share_conciliatory", "share_neutral", "share_warning", "tone",
    ]  # fmt: skip
    assert table["statements"].sum() == len(dyads)
    assert set(table["period"]) <= {f"2024-{m:02d}" for m in range(1, 13)}
    shares = table[["share_conciliatory", "share_neutral", "share_warning"]].sum(axis=1)
    assert shares.round(3).eq(1).all()
    # Tone as analyze defines it, recomputed from the scored rows of one dyad and month.
    first = table[table["dyad"] == wanted[0]].iloc[0]
    month = frame["date"].str[:7] == first["period"]
    rows = frame[month & (frame["speaker"] + "-" + frame["target"] == wanted[0])]
    assert len(rows) == first["statements"]
    expected = rows["p_conciliatory"].mean() - rows["p_warning"].mean()
    assert first["tone"] == pytest.approx(expected, abs=1e-4)
    # The chart beside it holds exactly the dyads asked for.
    png = out.with_suffix(".png")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] >= 1000
        assert image.text["Description"] == ", ".join(wanted)
    assert wanted[0] in result.output and str(png) in result.output


def test_the_chart_draws_the_top_dyads_with_their_counts(scored):
    table, summary = aggregate(scored, ["speaker", "target"], "Q")
    assert set(table["period"]) <= {"2024Q1", "2024Q2", "2024Q3", "2024Q4"}
    assert summary.used == table["statements"].sum()
    assert summary.no_actor > 0  # statements without a speaker or target are left out, counted
    chosen = choose_dyads(table, None, 3)
    counts = table.groupby("dyad")["statements"].sum()
    assert [counts[d] for d in chosen] == sorted(counts, reverse=True)[:3]
    tone_axes, count_axes = draw(table, chosen, "Q").axes
    legend = [t.get_text() for t in tone_axes.get_legend().get_texts()]
    assert [entry.split(" ")[0] for entry in legend] == chosen
    assert all(f"({counts[d]} statement" in e for d, e in zip(chosen, legend, strict=True))
    # One number per point: how many statements make it.
    assert len(tone_axes.texts) == len(table[table["dyad"].isin(chosen)])
    assert len(count_axes.patches) == len(table[table["dyad"].isin(chosen)])


def test_a_folder_of_parts_gives_the_same_table(runner, scored, tmp_path):
    frame = read(scored)
    parts = tmp_path / "parts"
    parts.mkdir()
    half = len(frame) // 2
    frame.iloc[:half].to_csv(parts / "part-0000.csv", index=False)
    frame.iloc[half:].to_csv(parts / "part-0001.csv", index=False)
    for source, name in ((scored, "one.csv"), (parts, "parts.csv")):
        result = runner.invoke(main, ["timeline", str(source), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(read(tmp_path / "one.csv"), read(tmp_path / "parts.csv"))


def test_weekly_periods_and_another_date_column(runner, scored, tmp_path):
    frame = read(scored).rename(columns={"date": "published"})
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    out = tmp_path / "weekly.csv"
    result = runner.invoke(
        main,
        ["timeline", str(tmp_path / "renamed.csv"), "-o", str(out), "--freq", "W",
         "--date-column", "published", "--by", "speaker"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = read(out)
    assert "target" not in table.columns and (table["dyad"] == table["speaker"]).all()
    assert table["period"].str.match(r"\d{4}-\d\d-\d\d/\d{4}-\d\d-\d\d").all()


def test_bad_input_is_exit_2_with_one_line(runner, scored, tmp_path):
    out = tmp_path / "out.csv"
    missing = runner.invoke(main, ["timeline", str(scored), "-o", str(out), "--date-column", "x"])
    assert missing.exit_code == 2 and "no column(s) x" in missing.output
    unknown = runner.invoke(main, ["timeline", str(scored), "-o", str(out), "--dyads", "ATL-PAC"])
    assert unknown.exit_code == 2 and "ATL-PAC" in unknown.output
    assert not out.exists() and not out.with_suffix(".png").exists()
