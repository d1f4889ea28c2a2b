"""Behaviour of the real trained model: clear cases, invariance to names, direction of edits.

The clear cases (behaviour/clear_cases.csv) are written by hand, follow data/GUIDELINES.md and
appear nowhere in the corpus, not even as near copies. A failure here names the statements the
model gets wrong: each one points at a gap in the training data, not at a threshold to lower.
"""

import re

import pandas as pd
import pytest

from model import LABEL_COLUMN, LABELS, TEXT_COLUMN
from training.data import near_duplicates, normalise, problems_in, read_labelled

from ..helpers import DATA, NEWS_TEST_DATA, TEST_DATA, TESTS

CLEAR_CASES = TESTS / "behaviour" / "clear_cases.csv"
CONCILIATORY, WARNING = LABELS.index("conciliatory"), LABELS.index("warning")

# Pairs of names swapped both ways at once; demonyms and capitals swap with their country.
NAME_SWAPS = [
    ("China", "Brazil"),
    ("Chinese", "Brazilian"),
    ("Beijing", "Brasília"),
    ("Japan", "Kenya"),
    ("Japanese", "Kenyan"),
    ("Tokyo", "Nairobi"),
    ("Putin", "Lula"),
    ("Russia", "Argentina"),
    ("Russian", "Argentine"),
    ("Moscow", "Buenos Aires"),
    ("India", "Indonesia"),
    ("Indian", "Indonesian"),
    ("Pakistan", "Vietnam"),
    ("Pakistani", "Vietnamese"),
    ("Islamabad", "Hanoi"),
    ("Iran", "Peru"),
    ("Tehran", "Lima"),
    ("Turkey", "Canada"),
    ("Turkish", "Canadian"),
    ("Ankara", "Ottawa"),
    ("Egypt", "Poland"),
    ("Israel", "Chile"),
    ("Mexico", "Morocco"),
    ("Mexican", "Moroccan"),
    ("Germany", "Norway"),
    ("Lithuania", "Kazakhstan"),
    ("Minsk", "Tashkent"),
    ("Armenia", "Bolivia"),
    ("Azerbaijan", "Paraguay"),
    ("Venezuela", "Thailand"),
    ("Nigeria", "Malaysia"),
    ("Serbia", "Ghana"),
    ("Manila", "Seoul"),
]
SWAP = {a: b for a, b in NAME_SWAPS} | {b: a for a, b in NAME_SWAPS}
SWAPPABLE = re.compile(
    r"(?<!\w)(" + "|".join(sorted(map(re.escape, SWAP), key=len, reverse=True)) + r")(?!\w)"
)

THREAT = ", or face severe consequences."
THANKS = " and thanked them for their cooperation."

# (stance, the same stance negated): each negation turns a hostile act into restraint or
# reassurance, which GUIDELINES.md (rules 3 and 17) files as conciliatory.
NEGATIONS = [
    (
        "We seek confrontation with our neighbours.",
        "We do not seek confrontation with our neighbours.",
    ),
    ("We seek confrontation.", "We do not seek confrontation."),
    (
        "Beijing wants a trade war with Washington.",
        "Beijing does not want a trade war with Washington.",
    ),
    ("Our troops will cross the border.", "Our troops will not cross the border."),
    ("We intend to escalate the conflict.", "We do not intend to escalate the conflict."),
    ("The minister said India would retaliate.", "The minister said India would not retaliate."),
    ("We will use force to settle the dispute.", "We will not use force to settle the dispute."),
    (
        "The army will resume its offensive in the north.",
        "The army will not resume its offensive in the north.",
    ),
    ("Moscow is seeking a war with NATO.", "Moscow is not seeking a war with NATO."),
    (
        "Tokyo plans to expel the Chinese diplomats.",
        "Tokyo does not plan to expel the Chinese diplomats.",
    ),
    ("Ankara will block Sweden's membership.", "Ankara will not block Sweden's membership."),
    ("We want to isolate Iran.", "We do not want to isolate Iran."),
    ("Seoul will retaliate against the tariffs.", "Seoul will not retaliate against the tariffs."),
    ("Our navy will enter the disputed waters.", "Our navy will not enter the disputed waters."),
]


@pytest.fixture(scope="module")
def clear_cases() -> pd.DataFrame:
    return read_labelled(CLEAR_CASES)


def swap_names(text: str) -> str:
    """Return text with every listed name replaced by its partner, both ways at once."""
    return SWAPPABLE.sub(lambda match: SWAP[match.group(1)], text)


def with_ending(text: str, ending: str) -> str:
    """Return text with its final full stop replaced by ending."""
    return text.rstrip().removesuffix(".") + ending


def listing(rows: list[str]) -> str:
    return "\n".join(f"  {row}" for row in rows)


def test_clear_cases_are_many_valid_and_new(clear_cases):
    assert problems_in(clear_cases, CLEAR_CASES.name) == []
    counts = clear_cases[LABEL_COLUMN].value_counts()
    assert len(clear_cases) >= 60 and all(counts.get(label, 0) >= 20 for label in LABELS), counts
    corpus = pd.concat([read_labelled(DATA), read_labelled(TEST_DATA)], ignore_index=True)
    texts = clear_cases[TEXT_COLUMN]
    copied = texts[texts.map(normalise).isin(set(corpus[TEXT_COLUMN].map(normalise)))]
    assert copied.empty, f"clear cases copied from the corpus:\n{listing(copied.tolist())}"
    near = near_duplicates(texts, corpus[TEXT_COLUMN])
    assert not near, f"clear cases near the corpus:\n{listing([p.first for p in near])}"


def test_clear_cases_get_their_label(predictor, clear_cases):
    predicted = pd.Series(
        [p.label for p in predictor.predict(clear_cases[TEXT_COLUMN].tolist())],
        index=clear_cases.index,
    )
    right = predicted == clear_cases[LABEL_COLUMN]
    per_label = right.groupby(clear_cases[LABEL_COLUMN]).mean()
    failures = listing(
        [
            f"{row[TEXT_COLUMN]!r}: {row[LABEL_COLUMN]}, predicted {predicted[i]}"
            for i, row in clear_cases[~right].iterrows()
        ]
    )
    assert right.mean() >= 0.90, f"{right.mean():.1%} right; wrong:\n{failures}"
    assert per_label.min() >= 0.85, f"right per label:\n{per_label}\nwrong:\n{failures}"


def test_swapping_names_keeps_the_label(predictor, clear_cases):
    originals = [text for text in clear_cases[TEXT_COLUMN] if SWAPPABLE.search(text)]
    assert len(originals) >= 20
    swapped = [swap_names(text) for text in originals]
    assert all(a != b for a, b in zip(originals, swapped, strict=True))
    before = predictor.predict(originals)
    after = predictor.predict(swapped)
    flips = [
        f"{a.label} -> {b.label}: {text!r} -> {new!r}"
        for text, new, a, b in zip(originals, swapped, before, after, strict=True)
        if a.label != b.label
    ]
    assert not flips, f"{len(flips)} of {len(originals)} changed label:\n{listing(flips)}"


def test_a_threat_raises_the_warning_probability(predictor, clear_cases):
    neutral = clear_cases[TEXT_COLUMN][clear_cases[LABEL_COLUMN] == "neutral"].tolist()
    before = predictor.probabilities(neutral)[:, WARNING]
    after = predictor.probabilities([with_ending(t, THREAT) for t in neutral])[:, WARNING]
    raised = after > before
    unmoved = [
        f"{b:.2f} -> {a:.2f}: {t!r}"
        for t, b, a, r in zip(neutral, before, after, raised, strict=True)
        if not r
    ]
    assert raised.mean() >= 0.90, f"p_warning rose for {raised.mean():.0%}:\n{listing(unmoved)}"


def test_thanks_raise_the_conciliatory_probability(predictor, clear_cases):
    neutral = clear_cases[TEXT_COLUMN][clear_cases[LABEL_COLUMN] == "neutral"].tolist()
    before = predictor.probabilities(neutral)[:, CONCILIATORY]
    after = predictor.probabilities([with_ending(t, THANKS) for t in neutral])[:, CONCILIATORY]
    unmoved = [
        f"{b:.2f} -> {a:.2f}: {t!r}"
        for t, b, a in zip(neutral, before, after, strict=True)
        if a <= b
    ]
    assert not unmoved, f"p_conciliatory did not rise:\n{listing(unmoved)}"


def test_negation_moves_toward_conciliatory(predictor):
    before = predictor.probabilities([stance for stance, _ in NEGATIONS])[:, CONCILIATORY]
    after = predictor.probabilities([negated for _, negated in NEGATIONS])[:, CONCILIATORY]
    unmoved = [
        f"{b:.2f} -> {a:.2f}: {negated!r}"
        for (_, negated), b, a in zip(NEGATIONS, before, after, strict=True)
        if a <= b
    ]
    # A bag of n-grams marks negation only a few words deep; at least 85% of pairs must move.
    # Known misses (2026-11): "Our troops will not cross the border", "Our navy will not enter
    # the disputed waters": "will not" + troops/border still reads as a warning.
    assert len(unmoved) <= 0.15 * len(NEGATIONS), (
        f"p_conciliatory did not rise for {len(unmoved)} of {len(NEGATIONS)}:\n{listing(unmoved)}"
    )


# Clear cases of the kinds the model got wrong on real news (README, "Real text"), written by
# hand after the guide's rules 29-36, with a column naming the kind.
NEWS_KINDS = TESTS / "behaviour" / "news_kinds.csv"
KINDS = (
    "meeting held",
    "material act",
    "demand",
    "weak protest verb",
    "appeal or request",
    "failed talks",
    "praise amid conflict",
    "security or legal fact",
)


@pytest.fixture(scope="module")
def news_kinds() -> pd.DataFrame:
    frame = pd.read_csv(NEWS_KINDS, dtype=str, keep_default_na=False, encoding="utf-8")
    return frame


def test_news_kinds_are_many_valid_and_new(news_kinds, clear_cases):
    assert problems_in(news_kinds[[TEXT_COLUMN, LABEL_COLUMN]], NEWS_KINDS.name) == []
    counts = news_kinds["kind"].value_counts()
    assert set(counts.index) == set(KINDS), counts
    assert counts.min() >= 20, counts
    corpus = pd.concat(
        [read_labelled(DATA), read_labelled(TEST_DATA), read_labelled(NEWS_TEST_DATA), clear_cases],
        ignore_index=True,
    )
    texts = news_kinds[TEXT_COLUMN]
    copied = texts[texts.map(normalise).isin(set(corpus[TEXT_COLUMN].map(normalise)))]
    assert copied.empty, f"cases copied from the corpus:\n{listing(copied.tolist())}"
    near = near_duplicates(texts, corpus[TEXT_COLUMN])
    assert not near, f"cases near the corpus:\n{listing([p.first for p in near])}"


@pytest.mark.parametrize("kind", KINDS)
def test_each_news_kind_gets_its_label(predictor, news_kinds, kind):
    cases = news_kinds[news_kinds["kind"] == kind]
    predicted = [p.label for p in predictor.predict(cases[TEXT_COLUMN].tolist())]
    right = cases[LABEL_COLUMN].to_numpy() == predicted
    wrong = listing(
        [
            f"{text!r}: {label}, predicted {guess}"
            for text, label, guess, ok in zip(
                cases[TEXT_COLUMN], cases[LABEL_COLUMN], predicted, right, strict=True
            )
            if not ok
        ]
    )
    assert right.mean() >= 0.85, f"{kind}: {right.mean():.0%} right; wrong:\n{wrong}"
