"""Stance's core: the label list, the pipeline, artifacts and the one prediction path."""

from model.artifact import ArtifactError
from model.labels import LABEL_COLUMN, LABELS, TEXT_COLUMN
from model.predict import Prediction, Predictor
from model.tagger import Tagger, load

__all__ = [
    "LABELS",
    "LABEL_COLUMN",
    "TEXT_COLUMN",
    "ArtifactError",
    "Prediction",
    "Predictor",
    "Tagger",
    "load",
]
