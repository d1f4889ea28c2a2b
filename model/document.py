"""Read a whole document: split it into sentences, predict each, and sum up its tone."""

from dataclasses import dataclass
from typing import Any

from model.labels import LABELS
from model.predict import Prediction, Predictor
from model.sentences import Sentence, split_sentences


@dataclass(frozen=True)
class SentenceCall:
    """One sentence of a document and the model's call on it."""

    sentence: Sentence
    prediction: Prediction

    def as_dict(self) -> dict[str, Any]:
        return {**self.sentence.as_dict(), **self.prediction.as_dict()}


@dataclass(frozen=True)
class Analysis:
    """A document's sentences with their calls, and the summary over them."""

    model_version: str
    sentences: tuple[SentenceCall, ...]

    def summary(self) -> dict[str, Any]:
        """Return counts and shares per label, and the tone.

        tone = mean p(conciliatory) - mean p(warning) over the sentences, in [-1, 1]:
        -1 when every sentence is surely a warning, +1 when every one is surely conciliatory.
        """
        n = len(self.sentences)
        counts = {label: 0 for label in LABELS}
        for call in self.sentences:
            counts[call.prediction.label] += 1
        if n == 0:
            return {"counts": counts, "shares": dict.fromkeys(LABELS, 0.0), "tone": 0.0}
        mean = {
            label: sum(c.prediction.probabilities[label] for c in self.sentences) / n
            for label in LABELS
        }
        return {
            "counts": counts,
            "shares": {label: counts[label] / n for label in LABELS},
            "tone": round(mean["conciliatory"] - mean["warning"], 4),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "sentences": [call.as_dict() for call in self.sentences],
            "summary": self.summary(),
        }


def analyze(predictor: Predictor, text: str, explain: bool = False) -> Analysis:
    """Split text into sentences and predict them all in one vectorised call."""
    sentences = split_sentences(text)
    predictions = predictor.predict([s.text for s in sentences], explain=explain)
    return Analysis(
        model_version=predictor.version,
        sentences=tuple(SentenceCall(s, p) for s, p in zip(sentences, predictions, strict=True)),
    )
