"""The model: TF-IDF features and a logistic regression in one scikit-learn Pipeline."""

import re
from functools import lru_cache
from typing import Any

import simplemma
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

RANDOM_STATE = 13

# Chosen by cross-validated macro-F1 on data/statements.csv, the simplest candidate within one
# standard error of the best (see README, "The model"); `stance train` searches again.
DEFAULT_PARAMS: dict[str, Any] = {
    "tfidf__ngram_range": (1, 2),
    "tfidf__min_df": 1,
    "clf__C": 30.0,
}

# Whether training wraps the pipeline in calibrated(): decided by
# `python -m training.calibration_study` for the chosen parameters (README, "The model").
CALIBRATE = False

# Words ("de-escalation" and "won't" stay whole: the pieces mean less apart) and clause
# punctuation, which ends the scope of a negation.
PIECE = re.compile(r"(?u)\b\w[\w'-]*\b|[.,;:!?]")
CLAUSE_END = frozenset(".,;:!?")
NEGATIONS = frozenset({"not", "no", "never", "nor", "without"})
# How many words after a negation are marked as negated ("will not cross the border").
NEGATION_SCOPE = 3


@lru_cache(maxsize=100_000)
def lemmas(word: str) -> tuple[str, ...]:
    """Return the dictionary form of a lower-case word, keeping negation ("won't" -> "will not")."""
    if word.endswith("n't") and len(word) > 3:
        return (simplemma.lemmatize(word[:-3], lang="en"), "not")
    return (simplemma.lemmatize(word, lang="en"),)


def lemma_tokens(text: str) -> list[str]:
    """Tokenise into lemmas, marking the few words after a negation: "not_use", "not_force".

    Lemmas make "condemns", "condemned" and "condemn" one feature: a model trained on a few
    thousand statements sees only some forms of each verb, and real statements use the others.
    Negation marking lets "we will not use force" differ from "we will use force", which a bag
    of words otherwise cannot tell apart.
    """
    tokens: list[str] = []
    negated = 0
    for piece in PIECE.findall(text):
        if piece in CLAUSE_END:
            negated = 0
            continue
        for lemma in lemmas(piece):
            if lemma in NEGATIONS:
                tokens.append(lemma)
                negated = NEGATION_SCOPE
            elif negated:
                tokens.append("not_" + lemma)
                negated -= 1
            else:
                tokens.append(lemma)
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


def calibrated(pipeline: Pipeline, folds: int = 5) -> CalibratedClassifierCV:
    """Wrap pipeline so that its probabilities mean what they say (sigmoid per label).

    ensemble=False: one pipeline, fitted on all the training data, under sigmoids fitted on its
    out-of-fold decision values. Chosen by `python -m training.calibration_study` (README).
    """
    return CalibratedClassifierCV(
        pipeline,
        method="sigmoid",
        ensemble=False,
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE),
    )


def base_pipeline(model: Any) -> Pipeline:
    """Return the TF-IDF + logistic regression pipeline of a plain or calibrated model."""
    if isinstance(model, Pipeline):
        return model
    pipelines = [c.estimator for c in model.calibrated_classifiers_]
    if len(pipelines) != 1:
        raise ValueError(f"expected one pipeline, not an ensemble of {len(pipelines)}")
    return pipelines[0]
