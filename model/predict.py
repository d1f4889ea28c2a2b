"""The one prediction path: REST, CLI and batch scoring all call Predictor."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.artifact import ArtifactError, current_version, load_artifact
from model.labels import LABELS


@dataclass(frozen=True)
class Prediction:
    """The model's call on one text."""

    label: str
    confidence: float
    probabilities: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }


class Predictor:
    """A loaded, verified model and its metadata."""

    def __init__(self, pipeline: Any, metadata: dict[str, Any]):
        classes = tuple(pipeline.classes_)
        if classes != LABELS:
            raise ArtifactError(f"model labels {classes} differ from Stance's labels {LABELS}")
        self.pipeline = pipeline
        self.metadata = metadata

    @classmethod
    def load(cls, version_dir: Path) -> "Predictor":
        """Load and verify one stored version."""
        return cls(*load_artifact(version_dir))

    @classmethod
    def load_current(cls, model_dir: Path) -> "Predictor":
        """Load the version that model_dir/CURRENT names."""
        return cls.load(Path(model_dir) / current_version(Path(model_dir)))

    @property
    def version(self) -> str:
        return self.metadata["version"]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n_texts, n_labels) array of probabilities, columns in LABELS order."""
        if len(texts) == 0:
            return np.empty((0, len(LABELS)))
        return self.pipeline.predict_proba(list(texts))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return one Prediction per text, in order, from one vectorised call."""
        return [_prediction(row) for row in self.probabilities(texts).tolist()]


def _prediction(probabilities: list[float]) -> Prediction:
    best = max(range(len(LABELS)), key=probabilities.__getitem__)
    return Prediction(
        label=LABELS[best],
        confidence=probabilities[best],
        probabilities=dict(zip(LABELS, probabilities, strict=True)),
    )
