"""Data validation: every failure kind is caught and names its rows; the real corpus passes."""

import pytest

from model import LABELS
from training.data import DataError, load_corpus, near_duplicates, normalise, read_labelled

from ..helpers import DATA, TEST_DATA

HEADER = ["text", "label"]
GOOD_TEST = [HEADER, ["The summit opens in Nairobi on Monday morning.", "neutral"]]


def problems(write_csv, train_rows, test_rows=GOOD_TEST) -> list[str]:
    with pytest.raises(DataError) as caught:
        load_corpus(write_csv("train.csv", train_rows), write_csv("test.csv", test_rows))
    return caught.value.problems


def test_missing_column_is_named(write_csv):
    [problem] = problems(write_csv, [["text", "stance"], ["Talks resume.", "neutral"]])
    assert problem.endswith("train.csv: missing column(s) label; found text, stance")


def test_unknown_label_names_its_row(write_csv):
    rows = [HEADER, ["Talks resume today.", "neutral"], ["We condemn the attack.", "negative"]]
    [problem] = problems(write_csv, rows)
    assert "row 3" in problem and "'negative'" in problem


def test_empty_text_names_its_row(write_csv):
    rows = [HEADER, ["Talks resume today.", "neutral"], ["   ", "warning"]]
    assert problems(write_csv, rows) == ["train.csv row 3: empty text"]


def test_exact_and_normalised_duplicates(write_csv):
    rows = [
        HEADER,
        ["We condemn the attack.", "warning"],
        ["We condemn the attack.", "warning"],
        ["Talks resume today", "neutral"],
        ["talks RESUME today!", "neutral"],
    ]
    found = problems(write_csv, rows)
    assert any("rows 2, 3: duplicate:" in p for p in found)
    assert any("rows 4, 5: duplicate after normalising" in p for p in found)


def test_same_text_with_two_labels(write_csv):
    rows = [
        HEADER,
        ["Seoul protested the drill.", "warning"],
        ["Seoul protested the drill", "neutral"],
    ]
    [problem] = problems(write_csv, rows)
    assert "rows 2, 3: the same text with different labels (neutral, warning)" in problem


def test_overlap_between_train_and_test(write_csv):
    shared = "The summit opens in Nairobi on Monday morning."
    found = problems(write_csv, [HEADER, [shared, "neutral"]])
    assert found == [
        f"train.csv row 2 and test.csv row 2: the same statement in both files: {shared!r}"
    ]


def test_near_duplicate_between_train_and_test(write_csv):
    train = [
        HEADER,
        ["Kenya said the summit opens in Nairobi on Monday with twelve leaders.", "neutral"],
    ]
    test = [
        HEADER,
        ["Uganda said the summit opens in Nairobi on Monday with twelve leaders.", "neutral"],
    ]
    [problem] = problems(write_csv, train, test)
    assert "a near-duplicate in both files" in problem


def test_reordered_words_count_as_near_duplicates(write_csv):
    train = [HEADER, ["On Monday the ministers will meet in Geneva to discuss trade.", "neutral"]]
    test = [HEADER, ["The ministers will meet in Geneva on Monday to discuss trade.", "neutral"]]
    [problem] = problems(write_csv, train, test)
    assert "near-duplicate" in problem and "similarity 1.0" in problem


def test_unreadable_files(write_csv, tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\nCaf\xe9 talks,neutral\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_labelled(latin1)
    with pytest.raises(DataError, match="no such file"):
        read_labelled(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="not a readable CSV"):
        read_labelled(empty)


def test_fields_are_strings_not_missing_values(write_csv):
    path = write_csv("na.csv", [HEADER, ["NA", "neutral"], ["None", "neutral"]])
    assert read_labelled(path)["text"].tolist() == ["NA", "None"]


def test_normalise_folds_case_accents_and_punctuation():
    assert normalise("  Côte d'Ivoire WARNS… Mali!! ") == "cote d ivoire warns mali"


def test_near_duplicates_within_one_file(write_csv):
    frame = read_labelled(
        write_csv(
            "t.csv",
            [
                HEADER,
                ["China warned Japan over the islands dispute on Tuesday evening.", "warning"],
                ["Korea warned Japan over the islands dispute on Tuesday evening.", "warning"],
                ["The ministers will meet in Geneva on Monday to discuss trade.", "neutral"],
            ],
        )
    )
    [pair] = near_duplicates(frame["text"])
    assert (pair.first_line, pair.second_line) == (2, 3)


def test_the_real_corpus_is_valid_and_balanced():
    train, test = load_corpus(DATA, TEST_DATA)
    assert len(train) >= 600 and len(test) >= 150
    for frame in (train, test):
        shares = frame["label"].value_counts(normalize=True)
        assert set(shares.index) == set(LABELS)
        assert shares.min() >= 0.25, shares
