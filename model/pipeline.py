"""The model: TF-IDF features and a logistic regression in one scikit-learn Pipeline."""

from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

# lemma_tokens stays importable here: the first stored models name it as model.pipeline's.
from model.features import Analyzer, lemma_tokens  # noqa: F401

RANDOM_STATE = 13

# Chosen by cross-validated macro-F1 on data/statements.csv, the simplest candidate within one
# standard error of the best (see README, "The model"); `stance train` searches again.
DEFAULT_PARAMS: dict[str, Any] = {
    "tfidf__ngram_range": (1, 2),
    "tfidf__min_df": 2,
    "clf__C": 10.0,
}

# Whether training wraps the pipeline in calibrated(): decided by
# `python -m studies.calibration_study` for the chosen parameters (README, "The model").
CALIBRATE = False


def build_pipeline(params: dict[str, Any] | None = None) -> Pipeline:
    """Return an unfitted pipeline with DEFAULT_PARAMS overridden by params."""
    pipeline = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    lowercase=False,  # the analyzer lower-cases after masking actor names
                    strip_accents="unicode",
                    tokenizer=Analyzer(),
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
    out-of-fold decision values. Chosen by `python -m studies.calibration_study` (README).
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
