"""The model: TF-IDF features and a logistic regression in one scikit-learn Pipeline."""

import re
from functools import lru_cache
from typing import Any

import simplemma
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

RANDOM_STATE = 13

# Chosen by cross-validated macro-F1 on data/statements.csv (see README, "The model").
DEFAULT_PARAMS: dict[str, Any] = {
    "tfidf__ngram_range": (1, 2),
    "tfidf__min_df": 1,
    "clf__C": 30.0,
}

# Keep "de-escalation" and "won't" whole: the pieces mean less apart.
WORD = re.compile(r"(?u)\b\w[\w'-]*\b")


@lru_cache(maxsize=100_000)
def lemmas(word: str) -> tuple[str, ...]:
    """Return the dictionary form of a lower-case word, keeping negation ("won't" -> "will not")."""
    if word.endswith("n't") and len(word) > 3:
        return (simplemma.lemmatize(word[:-3], lang="en"), "not")
    return (simplemma.lemmatize(word, lang="en"),)


def lemma_tokens(text: str) -> list[str]:
    """Tokenise into lemmas, so "condemns", "condemned" and "condemn" are one feature.

    A model trained on a few thousand statements sees only some forms of each verb; real
    statements use the others ("We condemn", where the corpus says "condemned").
    """
    tokens: list[str] = []
    for word in WORD.findall(text):
        tokens.extend(lemmas(word))
    return tokens


def build_pipeline(params: dict[str, Any] | None = None) -> Pipeline:
    """Return an unfitted pipeline with DEFAULT_PARAMS overridden by params."""
    pipeline = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    lowercase=True,
                    strip_accents="unicode",
                    tokenizer=lemma_tokens,
                    token_pattern=None,
                    sublinear_tf=True,
                ),
            ),
            (
                "clf",
                LogisticRegression(max_iter=2000, random_state=RANDOM_STATE),
            ),
        ]
    )
    pipeline.set_params(**{**DEFAULT_PARAMS, **(params or {})})
    return pipeline
