"""The model: TF-IDF features and a logistic regression in one scikit-learn Pipeline."""

from typing import Any

import numpy as np
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


def build_pipeline(params: dict[str, Any] | None = None) -> Pipeline:
    """Return an unfitted pipeline with DEFAULT_PARAMS overridden by params."""
    pipeline = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    lowercase=True,
                    sublinear_tf=True,
                    # Keep "de-escalation" and "won't" whole: the pieces mean less apart.
                    token_pattern=r"(?u)\b\w[\w'-]*\b",
                    strip_accents="unicode",
                    dtype=np.float32,
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
