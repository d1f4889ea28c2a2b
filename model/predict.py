"""The one prediction path: REST, CLI and batch scoring all call Predictor."""

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.artifact import (
    ArtifactError,
    current_version,
    load_artifact,
    load_tables,
    read_pipeline,
)
from model.fast import FastScorer, Tables
from model.labels import LABELS


def best(row: list[float]) -> int:
    """The decision rule, stated once: the index of the highest probability, the first on a tie."""
    return row.index(max(row))


def decide(probabilities: np.ndarray) -> np.ndarray:
    """`best` for each row of an array at once: numpy's argmax also takes the first on a tie."""
    return np.asarray(LABELS, dtype=object)[np.asarray(probabilities).argmax(axis=1)]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, then restore it as it was.

    Loading a version makes a few hundred thousand objects that live as long as it does (the
    vocabulary, its bigrams, the lemma dictionary): the collector scanned them again and again
    while they were made, a third of the load time. They hold no cycles for it to find.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# Scored once when a version loads: a model that cannot label this cannot serve.
SMOKE_TEXT = "The ministry said talks would resume next week."


@dataclass(frozen=True)
class Term:
    """One feature's exact contribution to a label's logit: coefficient times TF-IDF value."""

    term: str
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return {"term": self.term, "weight": self.weight}


@dataclass(frozen=True)
class Explanation:
    """Why the model chose a label: intercept + sum of all term weights = the label's logit."""

    label: str
    logit: float
    intercept: float
    toward: tuple[Term, ...]  # positive contributions, strongest first
    against: tuple[Term, ...]  # negative contributions, strongest first

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "logit": self.logit,
            "intercept": self.intercept,
            "toward": [t.as_dict() for t in self.toward],
            "against": [t.as_dict() for t in self.against],
        }


@dataclass(slots=True)  # not frozen: its __init__ cost a tenth of a one-text prediction
class Prediction:
    """The model's call on one text."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    explanation: Explanation | None = None

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }
        if self.explanation is not None:
            answer["explanation"] = self.explanation.as_dict()
        return answer


def prediction_of(row: list[float]) -> Prediction:
    """The Prediction of one row of probabilities, in LABELS order."""
    k = best(row)
    return Prediction(LABELS[k], row[k], dict(zip(LABELS, row, strict=True)))


class Predictor:
    """A loaded, verified model and its metadata.

    Built from a model in memory, or loaded from a stored version: from its fast-path tables
    when it has them (no scikit-learn import), else from its pipeline. The pipeline of a version
    loaded from its tables is read from disk only if something asks for it.
    """

    def __init__(
        self,
        model: Any | None,
        metadata: dict[str, Any],
        tables: Tables | None = None,
        version_dir: Path | None = None,
    ):
        self.metadata = metadata
        self._model = model  # what gives the probabilities: the pipeline, or it calibrated
        self._version_dir = version_dir
        self._terms: Any = None  # built on the first explanation, then kept
        if model is not None:
            # The exact fast path when the model is the plain pipeline it knows (a calibrated
            # model, or an unusual vectorizer, is scored by scikit-learn itself).
            self.slow_path_reason = FastScorer.unsupported(model)
            if self.slow_path_reason is None:
                tables = Tables.of(model)
            classes = tuple(getattr(model, "classes_", ()))
        else:
            self.slow_path_reason = None
            classes = tables.classes
        if classes != LABELS:
            raise ArtifactError(f"model labels {classes} differ from Stance's labels {LABELS}")
        self.fast = FastScorer(tables) if tables is not None else None

    @classmethod
    def load(cls, version_dir: Path) -> "Predictor":
        """Load one stored version and prove it predicts; any failure is an ArtifactError."""
        with collector_paused():
            return cls._load(version_dir)

    @classmethod
    def _load(cls, version_dir: Path) -> "Predictor":
        tables, metadata = load_tables(version_dir)
        try:
            if tables is not None:
                predictor = cls(None, metadata, tables, version_dir)
            else:  # verified with the tables' check: read, not checked twice
                predictor = cls(read_pipeline(version_dir), metadata, version_dir=version_dir)
            probabilities = predictor.probabilities([SMOKE_TEXT])
        except ArtifactError:
            raise
        except Exception as error:  # loaded, but not a model that can score text
            raise ArtifactError(f"model {version_dir.name} failed to predict: {error}") from None
        if probabilities.shape != (1, len(LABELS)) or not np.isclose(probabilities.sum(), 1.0):
            raise ArtifactError(f"model {version_dir.name} gives malformed probabilities")
        return predictor

    @classmethod
    def load_current(cls, model_dir: Path) -> "Predictor":
        """Load the version that model_dir/CURRENT names."""
        return cls.load(Path(model_dir) / current_version(Path(model_dir)))

    @property
    def model(self) -> Any:
        """The fitted model itself (scikit-learn), loaded from its version on first use."""
        if self._model is None:
            if self._version_dir is None:
                raise ArtifactError("this predictor was built from tables alone: it has no model")
            self._model, _ = load_artifact(self._version_dir)
        return self._model

    @property
    def pipeline(self) -> Any:
        """The TF-IDF + logistic regression pipeline inside the model."""
        from model.pipeline import base_pipeline  # imports scikit-learn: only when asked

        return base_pipeline(self.model)

    def verify(self) -> None:
        """Check the fast path and the stored pipeline agree, so either may serve the version."""
        if self.fast is None:
            return
        expected = self.model.predict_proba([SMOKE_TEXT])[0]
        found = self.fast.probabilities_one(SMOKE_TEXT)
        if not np.allclose(found, expected, rtol=0, atol=1e-9):
            raise ArtifactError(
                f"model {self.version}: its scorer and its pipeline disagree "
                f"({found} against {expected.tolist()}); retrain it"
            )

    @property
    def version(self) -> str:
        return self.metadata["version"]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n_texts, n_labels) array of probabilities, columns in LABELS order."""
        if len(texts) == 0:
            return np.empty((0, len(LABELS)))
        if self.fast is not None:
            return self.fast.probabilities(texts)
        return self.model.predict_proba(list(texts))

    def scores(
        self, texts: Sequence[Any], scorable: np.ndarray, missing_label: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the labels, confidences and probabilities of a column of texts, in one call.

        Rows where scorable is False are not scored: they get missing_label and NaNs.
        """
        probabilities = np.full((len(texts), len(LABELS)), np.nan)
        labels = np.full(len(texts), missing_label, dtype=object)
        confidence = np.full(len(texts), np.nan)
        if not scorable.any():
            return labels, confidence, probabilities
        if scorable.all():  # the common case, with no array of objects to build
            found = self.probabilities(list(texts))
        else:
            found = self.probabilities(np.asarray(texts, dtype=object)[scorable].tolist())
        probabilities[scorable] = found
        labels[scorable] = decide(found)
        confidence[scorable] = found.max(axis=1)
        return labels, confidence, probabilities

    def predict(self, texts: Sequence[str], explain: bool = False) -> list[Prediction]:
        """Return one Prediction per text, in order, from one vectorised call."""
        if len(texts) == 0:
            return []
        if self.fast is not None and len(texts) == 1:
            rows = [self.fast.probabilities_one(texts[0])]  # no numpy: it costs more than this
        else:
            rows = self.probabilities(texts).tolist()
        predictions = list(map(prediction_of, rows))
        if explain:  # it transforms the texts a second time: only when asked
            labels = list(map(best, rows))
            for prediction, explanation in zip(
                predictions, self._explain(texts, labels), strict=True
            ):
                prediction.explanation = explanation
        return predictions

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return one text's feature ids and TF-IDF values, as the pipeline computes them."""
        if self.fast is not None:
            ids, values = self.fast.features(text)
            return np.asarray(ids, dtype=np.int64), np.asarray(values, dtype=np.float64)
        row = self.pipeline.named_steps["tfidf"].transform([text]).tocsr()
        return row.indices, row.data

    def _weights(self) -> tuple[Any, np.ndarray, np.ndarray]:
        """Feature names, coefficients and intercepts of the linear model."""
        if self.fast is not None:
            return self.fast.terms, self.fast.coef, self.fast.intercept
        if self._terms is None:
            self._terms = self.pipeline.named_steps["tfidf"].get_feature_names_out()
        classifier = self.pipeline.named_steps["clf"]
        return self._terms, classifier.coef_, classifier.intercept_

    def _explain(self, texts: Sequence[str], labels: Sequence[int]) -> list[Explanation]:
        terms_of, coefficients, intercepts = self._weights()
        explanations = []
        for text, k in zip(texts, labels, strict=True):
            ids, values = self.features(text)
            weights = values * coefficients[k, ids]
            order = np.argsort(-np.abs(weights), kind="stable")
            terms = [Term(str(terms_of[ids[j]]), float(weights[j])) for j in order]
            explanations.append(
                Explanation(
                    label=LABELS[k],
                    logit=float(intercepts[k] + weights.sum()),
                    intercept=float(intercepts[k]),
                    toward=tuple(t for t in terms if t.weight > 0),
                    against=tuple(t for t in terms if t.weight < 0),
                )
            )
        return explanations
