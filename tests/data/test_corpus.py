"""The corpus report on small known files, and the real corpus against the issue's requirements."""

import json

import pytest

from model import LABELS
from training.corpus_report import (
    ACTORS_FILE,
    corpus_report,
    format_corpus_report,
    load_actors,
)
from training.data import load_corpus

from ..helpers import DATA, NEWS_TEST_DATA, TEST_DATA

HEADER = ["text", "label"]
REGIONS = {
    "East Asia and the Pacific",
    "Europe and Russia",
    "Middle East",
    "South Asia",
    "Africa",
    "Americas",
    "Multilateral",
}
LONG_STATEMENT = " ".join(["The communique lists the delegations in alphabetical order."] * 8)[:-1]

SMALL_TRAIN = [
    HEADER,
    ["China warned Japan over the disputed islands on Tuesday.", "warning"],
    ["Beijing and Tokyo agreed to resume maritime talks next month.", "conciliatory"],
    ["The summit opens in Nairobi on Monday.", "neutral"],
    ["Nigeria thanked the UNHCR for its help.", "conciliatory"],
    ["Talks resume.", "neutral"],
    ["The Organization of American States condemned the coup in Niger.", "warning"],
    ["Let us hope for calm.", "conciliatory"],
    ["Seoul warned Japan over the disputed islands on Tuesday.", "warning"],
    [LONG_STATEMENT, "neutral"],
    ["Paris, Berlin and the EU agreed a common line on Ukraine.", "conciliatory"],
]
SMALL_TEST = [
    HEADER,
    ["Washington warned Caracas against new arrests.", "warning"],
    ["The U.S. and Mexico signed a water agreement.", "conciliatory"],
    ["The UN General Assembly meets in September.", "neutral"],
]


@pytest.fixture
def small_report(write_csv) -> dict:
    return corpus_report(write_csv("train.csv", SMALL_TRAIN), write_csv("test.csv", SMALL_TEST))


def test_rows_and_labels(small_report):
    train = small_report["train"]
    assert train["rows"] == 10 and small_report["test"]["rows"] == 3
    assert train["labels"] == {
        "conciliatory": {"count": 4, "share": 0.4},
        "neutral": {"count": 3, "share": 0.3},
        "warning": {"count": 3, "share": 0.3},
    }


def test_unknown_labels_are_counted_not_hidden(write_csv):
    rows = [HEADER, ["Talks resume in Geneva today.", "neutral"], ["We object.", "negative"]]
    path = write_csv("odd.csv", rows)
    labels = corpus_report(path, path)["train"]["labels"]
    assert list(labels) == [*LABELS, "negative"]
    assert labels["negative"] == {"count": 1, "share": 0.5}


def test_length_distribution_in_words(small_report):
    assert len(LONG_STATEMENT.split()) == 64
    assert small_report["train"]["length_words"] == {
        "min": 2,
        "q1": 7.0,
        "median": 9.0,
        "q3": 10.0,
        "max": 64,
        "histogram": {"1-5": 2, "6-12": 7, "13-20": 0, "21-35": 0, "36-60": 0, "61+": 1},
        "shorter_than_min": 1,
        "longer_than_max": 1,
    }


def test_actors_regions_and_whole_word_aliases(small_report):
    actors = small_report["train"]["actors"]
    counts = {entry["actor"]: entry["statements"] for entry in actors["top"]}
    # Niger is not Nigeria, the UNHCR is not the UN, "us" is not the US, and the Organization
    # of American States is not the United States.
    assert counts == {
        "Japan": 3,
        "China": 2,
        "South Korea": 1,
        "France": 1,
        "Germany": 1,
        "Ukraine": 1,
        "Kenya": 1,
        "Nigeria": 1,
        "Niger": 1,
        "European Union": 1,
        "UNHCR": 1,
        "Organization of American States": 1,
    }
    assert [entry["actor"] for entry in actors["top"][:2]] == ["Japan", "China"]
    assert actors["distinct"] == 12
    assert actors["statements_without_actor"] == 3
    assert actors["regions"] == {
        "East Asia and the Pacific": 3,
        "Europe and Russia": 1,
        "Middle East": 0,
        "South Asia": 0,
        "Africa": 3,
        "Americas": 0,
        "Multilateral": 3,
    }
    test_counts = {e["actor"]: e["statements"] for e in small_report["test"]["actors"]["top"]}
    assert test_counts == {"United States": 2, "Venezuela": 1, "Mexico": 1, "United Nations": 1}


def test_near_duplicates_are_listed_with_their_rows(small_report):
    [pair] = small_report["train"]["near_duplicates"]
    assert (pair["first_row"], pair["second_row"]) == (2, 9)
    assert pair["first"].startswith("China warned") and pair["second"].startswith("Seoul warned")
    assert pair["similarity"] == pytest.approx(8 / 9, abs=0.001)
    assert small_report["test"]["near_duplicates"] == []


def test_report_is_json_and_reads_in_a_terminal(small_report):
    assert json.loads(json.dumps(small_report)) == small_report
    text = format_corpus_report(small_report)
    assert "10 statements" in text and "3 statements" in text
    assert "conciliatory       4   40.0%" in text
    assert "min 2, quartiles 7 / 9 / 10, max 64" in text
    assert "6-12      7  ########################################" in text
    assert "Actors: 12 of" in text
    assert "rows 2 and 9 (similarity 0.889)" in text
    assert "Near-duplicates within the file: none" in text


def test_actor_list_covers_the_world():
    actors = load_actors()
    assert len(actors) >= 80
    assert set(actors["region"]) == REGIONS
    for body in ("United Nations", "NATO", "European Union", "ASEAN", "African Union", "G7"):
        assert body in set(actors["actor"])
    assert {"G20", "IAEA", "WTO"} <= set(actors["actor"])


def test_an_actor_listed_twice_is_refused(tmp_path):
    path = tmp_path / "actors.csv"
    path.write_text(ACTORS_FILE.read_text(encoding="utf-8") + "China,Africa,Sino\n")
    with pytest.raises(ValueError, match="actors listed twice: China"):
        load_actors(path)


# The real corpus, measured once for the tests below.


@pytest.fixture(scope="module")
def real_report() -> dict:
    return corpus_report(DATA, TEST_DATA, NEWS_TEST_DATA)


def test_the_files_are_large_enough(real_report):
    assert real_report["train"]["rows"] >= 11000
    assert real_report["test"]["rows"] >= 600
    assert real_report["news_test"]["rows"] >= 900


# What real news has that the corpus lacked (README, "Real text"): the training file must read
# like it. Each figure is defined in training/registers.py.
@pytest.mark.parametrize("part", ["train", "news_test"])
def test_the_corpus_reads_like_real_news(real_report, part):
    report = real_report[part]
    assert report["registers"]["wire copy"]["share"] >= 0.40, report["registers"]
    assert report["spelling"]["american_share"] >= 0.40, report["spelling"]
    assert report["length_words"]["median"] >= 22, report["length_words"]


def test_no_opening_is_overused(real_report):
    openings = real_report["train"]["openings"]
    assert openings["largest_share"] <= 0.01, openings["top"]


@pytest.mark.parametrize("part", ["train", "test", "news_test"])
def test_each_label_is_near_a_third(real_report, part):
    labels = real_report[part]["labels"]
    assert list(labels) == list(LABELS), f"unknown labels in {part}: {labels}"
    for label, figures in labels.items():
        assert 0.28 <= figures["share"] <= 0.40, f"{part}: {label} is {figures['share']:.1%}"


@pytest.mark.parametrize("part", ["train", "test", "news_test"])
def test_many_actors_from_every_region(real_report, part):
    actors = real_report[part]["actors"]
    assert actors["distinct"] >= 40
    missing = [region for region, count in actors["regions"].items() if count == 0]
    assert not missing, f"{part}: no statement names an actor from {missing}"


@pytest.mark.parametrize("part", ["train", "test", "news_test"])
def test_statements_are_four_to_sixty_words(real_report, part):
    report = real_report[part]
    length = report["length_words"]
    outside = length["shorter_than_min"] + length["longer_than_max"]
    assert outside <= 0.02 * report["rows"], f"{part}: {outside} statements outside 4-60 words"


@pytest.mark.parametrize("part", ["train", "test", "news_test"])
def test_no_near_duplicates_within_a_file(real_report, part):
    pairs = real_report[part]["near_duplicates"]
    assert not pairs, "\n".join(
        f"rows {p['first_row']} and {p['second_row']}: {p['first'][:60]!r}" for p in pairs
    )


def test_the_files_pass_validation_with_nothing_shared():
    # Raises DataError naming every overlap or near-duplicate between the files.
    load_corpus(DATA, [TEST_DATA, NEWS_TEST_DATA])


def test_the_data_report_shows_registers_spelling_and_openings(real_report):
    text = format_corpus_report(real_report)
    for heading in ("Registers", "wire copy", "Spelling:", "Openings:", "Held-out news file"):
        assert heading in text
