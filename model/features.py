"""The features: how a statement becomes the words the model weighs.

`Analyzer` is the vectorizer's tokenizer. It is pickled into every artifact by name
(`model.features.Analyzer`) with only its settings, so a stored model keeps working while the
code around it moves; `tests/test_features.py` pins the names stored models refer to.
"""

import csv
import re
from functools import cache, lru_cache
from pathlib import Path

import simplemma
from breame.data.spelling_constants import BRITISH_ENGLISH_SPELLINGS

# Words ("de-escalation" and "won't" stay whole: the pieces mean less apart) and clause
# punctuation, which ends the scope of a negation.
PIECE = re.compile(r"(?u)\b\w[\w'-]*\b|[.,;:!?]")
CLAUSE_END = frozenset(".,;:!?")
NEGATIONS = frozenset({"not", "no", "never", "nor", "without"})
# How many words after a negation are marked as negated ("will not cross the border").
NEGATION_SCOPE = 3

# The gazetteer: one row per actor (state, organisation or leader) with a regular expression of
# the names, demonyms, capitals and seats that stand for it.
ACTORS_FILE = Path(__file__).with_name("actors.csv")
# What every actor name becomes when actors are masked: lower-case text cannot contain it by
# accident (the underscores), and it reads plainly in an explanation.
ACTOR_TOKEN = "_actor_"

# Words breame's table lacks that our corpus and real copy use.
EXTRA_BRITISH_SPELLINGS = {
    "militarisation": "militarization",
    "demilitarisation": "demilitarization",
    "normalisation": "normalization",
    "destabilisation": "destabilization",
    "annexe": "annex",
    "whilst": "while",
    "amongst": "among",
}
AMERICAN_SPELLING = {**BRITISH_ENGLISH_SPELLINGS, **EXTRA_BRITISH_SPELLINGS}


def american(word: str) -> str:
    """Return the American spelling of a lower-case word ("neighbours" -> "neighbors")."""
    return AMERICAN_SPELLING.get(word, word)


@lru_cache(maxsize=100_000)
def lemmas(word: str) -> tuple[str, ...]:
    """Return the dictionary form of a lower-case word, keeping negation ("won't" -> "will not")."""
    if word.endswith("n't") and len(word) > 3:
        return (simplemma.lemmatize(word[:-3], lang="en"), "not")
    return (simplemma.lemmatize(word, lang="en"),)


@lru_cache(maxsize=100_000)
def folded_lemmas(word: str) -> tuple[str, ...]:
    """Lemmas of a word spelled the American way, so both spellings make one feature."""
    return lemmas(american(word))


def negation_marked(pieces: list[str], lemmatize) -> list[str]:
    """Lemmatise pieces, marking the few words after a negation: "not_use", "not_force".

    Negation marking lets "we will not use force" differ from "we will use force", which a bag
    of words otherwise cannot tell apart.
    """
    tokens: list[str] = []
    negated = 0
    for piece in pieces:
        if piece in CLAUSE_END:
            negated = 0
            continue
        for lemma in (piece,) if piece == ACTOR_TOKEN else lemmatize(piece):
            if lemma in NEGATIONS:
                tokens.append(lemma)
                negated = NEGATION_SCOPE
            elif negated:
                tokens.append("not_" + lemma)
                negated -= 1
            else:
                tokens.append(lemma)
    return tokens


def lemma_tokens(text: str) -> list[str]:
    """The first models' tokenizer, kept because their artifacts name it: lemmas and negation.

    Lemmas make "condemns", "condemned" and "condemn" one feature: a model trained on a few
    thousand statements sees only some forms of each verb, and real statements use the others.
    """
    return negation_marked(PIECE.findall(text), lemmas)


@cache
def actor_pattern(path: Path = ACTORS_FILE) -> re.Pattern[str]:
    """Return one expression matching any actor name of the gazetteer, longest names first."""
    with open(path, encoding="utf-8", newline="") as handle:
        patterns = [row["pattern"] for row in csv.DictReader(handle)]
    # Alternatives are tried in order: a longer name must win over its prefix ("South Sudan").
    alternatives = "|".join(f"(?:{p})" for p in sorted(patterns, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


class Analyzer:
    """Text to tokens: actor names masked, case folded, spellings folded, lemmas, negation.

    Masking actors makes the model learn what is said, not who says it: our corpus names some
    states far more than real copy does, and a name should not carry a stance. The settings are
    the only state, so the pickle holds no code and no tables.
    """

    def __init__(self, fold_spelling: bool = True, mask_actors: bool = True):
        self.fold_spelling = fold_spelling
        self.mask_actors = mask_actors

    def __call__(self, text: str) -> list[str]:
        if self.mask_actors:
            # Case matters for names ("Turkey", "Chad"), so mask before lower-casing.
            text = actor_pattern().sub(f" {ACTOR_TOKEN} ", text)
        lemmatize = folded_lemmas if self.fold_spelling else lemmas
        return negation_marked(PIECE.findall(text.lower()), lemmatize)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Analyzer) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(tuple(sorted(vars(self).items())))

    def __repr__(self) -> str:
        return f"Analyzer(fold_spelling={self.fold_spelling}, mask_actors={self.mask_actors})"
