"""Load labelled statements and refuse data that would teach the model the wrong thing."""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer

from model.feedback_store import FeedbackStore
from model.labels import LABEL_COLUMN, LABELS, TEXT_COLUMN

# Two statements whose word sets have at least this cosine similarity are near-duplicates:
# the same sentence with a name swapped or its words reordered.
NEAR_DUPLICATE_SIMILARITY = 0.85
MIN_SHARED_WORDS = 5


class DataError(Exception):
    """Labelled data failed validation; problems lists every reason, naming the rows."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class NearDuplicate:
    """Two statements that are almost the same sentence."""

    first: str
    first_line: int
    second: str
    second_line: int
    similarity: float


def line_of(index: int) -> int:
    """Return the spreadsheet row of a data row: the header is row 1."""
    return index + 2


def normalise(text: str) -> str:
    """Return text folded for duplicate checks: case, accents, punctuation and spacing ignored."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", folded))


def read_labelled(path: Path) -> pd.DataFrame:
    """Read a text,label CSV with every field as a string (a statement "NA" is text)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise DataError([f"{path}: no such file"]) from None
    except UnicodeDecodeError as error:
        raise DataError([f"{path}: not UTF-8 ({error.reason} at byte {error.start})"]) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError([f"{path}: not a readable CSV: {error}"]) from None
    missing = [c for c in (TEXT_COLUMN, LABEL_COLUMN) if c not in frame.columns]
    if missing:
        raise DataError(
            [f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}"]
        )
    return frame[[TEXT_COLUMN, LABEL_COLUMN]]


def problems_in(frame: pd.DataFrame, name: str) -> list[str]:
    """Return every problem in one labelled file, each naming its rows."""
    if frame.empty:
        return [f"{name}: no statements"]
    problems = []
    texts, labels = frame[TEXT_COLUMN], frame[LABEL_COLUMN]
    for index in np.flatnonzero(texts.str.strip() == ""):
        problems.append(f"{name} row {line_of(index)}: empty text")
    for index in np.flatnonzero(~labels.isin(LABELS)):
        problems.append(
            f"{name} row {line_of(index)}: unknown label {labels.iloc[index]!r} "
            f"(expected one of {', '.join(LABELS)})"
        )
    keys = texts.map(normalise)
    for _, group in frame[keys != ""].groupby(keys[keys != ""], sort=False):
        if len(group) < 2:
            continue
        rows = ", ".join(str(line_of(i)) for i in group.index)
        exact = group[TEXT_COLUMN].nunique() == 1
        kind = "duplicate" if exact else "duplicate after normalising case and punctuation"
        if group[LABEL_COLUMN].nunique() > 1:
            problems.append(
                f"{name} rows {rows}: the same text with different labels "
                f"({', '.join(sorted(set(group[LABEL_COLUMN])))})"
            )
        else:
            problems.append(f"{name} rows {rows}: {kind}: {group[TEXT_COLUMN].iloc[0][:80]!r}")
    return problems


def near_duplicates(first: pd.Series, second: pd.Series | None = None) -> list[NearDuplicate]:
    """Return pairs of near-identical statements, within first or between first and second."""
    within = second is None
    second = first if within else second
    vectorizer = CountVectorizer(binary=True, token_pattern=r"(?u)\b\w+\b")
    vectorizer.fit(pd.concat([first, second]).map(normalise))
    a = vectorizer.transform(first.map(normalise)).astype(np.float32)
    b = vectorizer.transform(second.map(normalise)).astype(np.float32)
    shared = (a @ b.T).tocoo()
    sizes_a = np.asarray(a.sum(axis=1)).ravel()
    sizes_b = np.asarray(b.sum(axis=1)).ravel()
    # Filter with numpy first: most pairs share a few common words and are dropped here.
    keep = shared.data >= MIN_SHARED_WORDS
    if within:
        keep &= shared.col > shared.row
    rows, cols, counts = shared.row[keep], shared.col[keep], shared.data[keep]
    similarity = counts / np.sqrt(sizes_a[rows] * sizes_b[cols])
    close = similarity >= NEAR_DUPLICATE_SIMILARITY
    pairs = [
        NearDuplicate(
            first.iloc[i], line_of(int(i)), second.iloc[j], line_of(int(j)), round(float(sim), 3)
        )
        for i, j, sim in zip(rows[close], cols[close], similarity[close], strict=True)
    ]
    return sorted(pairs, key=lambda pair: -pair.similarity)


def read_feedback(db_path: Path) -> pd.DataFrame:
    """Return the feedback store's text,label rows to train on; for one text, the latest wins."""
    with FeedbackStore(db_path) as store:
        frame = pd.DataFrame(store.texts_and_labels(), columns=[TEXT_COLUMN, LABEL_COLUMN])
    # Same key as the corpus's duplicate check, so the result never trips it.
    keys = frame[TEXT_COLUMN].map(lambda text: normalise(text) or text)
    return frame[~keys.duplicated(keep="last")].reset_index(drop=True)


def with_feedback(train: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """Return train with feedback rows added; each replaces the statement it corrects."""
    corrected = set(feedback[TEXT_COLUMN].map(normalise))
    kept = train[~train[TEXT_COLUMN].map(normalise).isin(corrected)]
    return pd.concat([kept, feedback[[TEXT_COLUMN, LABEL_COLUMN]]], ignore_index=True)


# The column of a held-out frame that names the file each statement came from.
HELD_OUT_FILE = "file"


def load_corpus(
    train_path: Path,
    test_paths: Sequence[Path] | Path,
    feedback: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate the training and held-out files; raise DataError listing all problems.

    The held-out frame has a HELD_OUT_FILE column, so each held-out file can be scored on its own
    (data/news_test.csv stands in for real news, data/test.csv for the rest). feedback (users'
    corrections, text,label: read_feedback) goes through the same checks, and is added to the
    training data, replacing the statements it corrects.
    """
    test_paths = [test_paths] if isinstance(test_paths, Path) else list(test_paths)
    train = read_labelled(train_path)
    problems = problems_in(train, train_path.name)
    tests = []
    for path in test_paths:
        test = read_labelled(path)
        problems += problems_in(test, path.name)
        tests.append(test.assign(**{HELD_OUT_FILE: path.name}))
    if feedback is not None and not feedback.empty:
        problems += problems_in(feedback.reset_index(drop=True), "feedback")
        train = with_feedback(train, feedback)
    for path, test in zip(test_paths, tests, strict=True):
        problems += overlap_problems(train, train_path.name, test, path.name)
    for i, (first_path, first) in enumerate(zip(test_paths, tests, strict=True)):
        for second_path, second in list(zip(test_paths, tests, strict=True))[i + 1 :]:
            problems += overlap_problems(first, first_path.name, second, second_path.name)
    if problems:
        raise DataError(problems)
    return train, pd.concat(tests, ignore_index=True)


def overlap_problems(
    first: pd.DataFrame, first_name: str, second: pd.DataFrame, second_name: str
) -> list[str]:
    """Return the statements that two files share, exactly or nearly: a leak between them."""
    problems = []
    second_rows = {key: line_of(i) for i, key in enumerate(second[TEXT_COLUMN].map(normalise))}
    for i, key in enumerate(first[TEXT_COLUMN].map(normalise)):
        if key and key in second_rows:
            problems.append(
                f"{first_name} row {line_of(i)} and {second_name} row {second_rows[key]}: "
                f"the same statement in both files: {first[TEXT_COLUMN].iloc[i][:80]!r}"
            )
    for pair in near_duplicates(first[TEXT_COLUMN], second[TEXT_COLUMN]):
        if normalise(pair.first) == normalise(pair.second):
            continue  # already reported above as the same statement
        problems.append(
            f"{first_name} row {pair.first_line} and {second_name} row "
            f"{pair.second_line}: a near-duplicate in both files (similarity {pair.similarity}): "
            f"{pair.first[:80]!r}"
        )
    return problems
