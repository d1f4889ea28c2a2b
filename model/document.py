"""Read a whole document: split it into sentences, predict each, and sum up its tone."""

from dataclasses import dataclass
from typing import Any

from model.actors import actors_of
from model.labels import LABELS
from model.predict import Prediction, Predictor
from model.sentences import Sentence, split_sentences


def tone(mean_conciliatory, mean_warning):
    """The tone, defined once: mean p(conciliatory) - mean p(warning), in [-1, 1].

    -1 when every statement is surely a warning, +1 when every one is surely conciliatory; works
    on numbers and on pandas columns alike (`stance timeline` uses it per dyad and period).
    """
    return mean_conciliatory - mean_warning


@dataclass(frozen=True)
class SentenceCall:
    """One sentence of a document and the model's call on it."""

    sentence: Sentence
    prediction: Prediction
    actors: dict[str, Any] | None = None  # speaker, target and hints, offsets into the document

    def as_dict(self) -> dict[str, Any]:
        answer = {**self.sentence.as_dict(), **self.prediction.as_dict()}
        if self.actors is not None:
            answer["actors"] = self.actors
        return answer


@dataclass(frozen=True)
class Analysis:
    """A document's sentences with their calls, and the summary over them."""

    model_version: str
    sentences: tuple[SentenceCall, ...]

    def summary(self) -> dict[str, Any]:
        """Return counts and shares per label, and the tone (see `tone`) over the sentences."""
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
            "tone": round(tone(mean["conciliatory"], mean["warning"]), 4),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "sentences": [call.as_dict() for call in self.sentences],
            "summary": self.summary(),
        }


def analyze(
    predictor: Predictor, text: str, explain: bool = False, actors: bool = False
) -> Analysis:
    """Split text into sentences and predict them all in one vectorised call.

    With actors, each sentence also gets its actor hints (roles are read sentence by sentence).
    """
    sentences = split_sentences(text)
    predictions = predictor.predict([s.text for s in sentences], explain=explain)
    return Analysis(
        model_version=predictor.version,
        sentences=tuple(
            SentenceCall(s, p, actors_of(s.text, offset=s.start) if actors else None)
            for s, p in zip(sentences, predictions, strict=True)
        ),
    )
