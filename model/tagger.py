"""Stance from Python, for notebooks: `load()` the current model, then call it on texts.

Shaped after what researchers already know: calling a Tagger answers like a Hugging Face
`pipeline("text-classification")` (`[{"label", "score"}]` per text), `pipe` streams like
spaCy's `nlp.pipe`, and `score` labels a pandas column and keeps its index. Everything goes
through Predictor, the one prediction path the API, the CLI and the batch scorer use.
"""

import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model import home
from model.labels import LABELS, SCORE_COLUMNS
from model.predict import Explanation, Prediction, Predictor

if TYPE_CHECKING:  # pandas is imported by score() alone: the server never needs it
    import pandas as pd

PIPE_BATCH = 1000


def load(model_dir: str | Path | None = None, version: str | None = None) -> "Tagger":
    """Load a stored model: the current one of model_dir (default: Stance's home), or version."""
    folder = Path(model_dir) if model_dir is not None else home.model_dir()
    if version is None:
        return Tagger(Predictor.load_current(folder))
    return Tagger(Predictor.load(folder / version))


class Tagger:
    """A loaded model, callable on texts; see the README's "Python" section."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    @property
    def version(self) -> str:
        return self.predictor.version

    labels = LABELS

    def __repr__(self) -> str:
        return f"<stance Tagger {self.version}>"

    def __call__(
        self, texts: str | Sequence[str], top_k: int | None = 1
    ) -> list[dict[str, Any] | list[dict[str, Any]] | None]:
        """Label texts (one string or a list); one answer per text, None for an empty one.

        An answer is {"label", "score"}; with top_k=k (or None for every label) it is a list
        of such dicts, most probable first. score is the label's probability.
        """
        batch = [texts] if isinstance(texts, str) else list(texts)
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be 1 or more, or None for every label, not {top_k}")
        answers: list[dict[str, Any] | list[dict[str, Any]] | None] = []
        for prediction in self._predict(batch):
            if prediction is None:
                answers.append(None)
                continue
            ranked = sorted(prediction.probabilities.items(), key=lambda pair: -pair[1])
            best = [{"label": label, "score": score} for label, score in ranked[:top_k]]
            answers.append(best[0] if top_k == 1 else best)
        return answers

    def pipe(
        self, texts: Iterable[str], batch_size: int = PIPE_BATCH, explain: bool = False
    ) -> Iterator[Prediction | None]:
        """Stream a Prediction per text (None for an empty one), batch_size texts at a time."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, not {batch_size}")
        stream, start = iter(texts), 0
        while batch := list(islice(stream, batch_size)):
            yield from self._predict(batch, explain=explain, start=start)
            start += len(batch)

    def explain(self, text: str) -> Explanation:
        """Return the terms that pushed one text toward its label and against it, with weights."""
        if not _scorable([text], [0])[0]:
            raise ValueError("cannot explain an empty text")
        explanation = self.predictor.predict([text], explain=True)[0].explanation
        assert explanation is not None  # asked for above
        return explanation

    def score(self, texts: "pd.Series | Sequence[str]") -> "pd.DataFrame":
        """Label a column of texts: label, confidence and p_<label> per row, with its index.

        Empty, blank and missing (NaN, None) cells get a missing label and probabilities, never
        a made-up class; a cell that holds anything else than a string is an error.
        """
        import pandas as pd

        column = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
        scorable = _scorable(column.tolist(), column.index)
        labels, confidence, probabilities = self.predictor.scores(column, scorable, None)
        label_column, confidence_column, *probability_columns = SCORE_COLUMNS
        scored = pd.DataFrame(probabilities, index=column.index, columns=probability_columns)
        scored.insert(0, confidence_column, confidence)
        scored.insert(0, label_column, labels)
        return scored

    def _predict(
        self, texts: list[Any], explain: bool = False, start: int = 0
    ) -> list[Prediction | None]:
        """Predict the texts that have text in one call; None stands in for the others."""
        scorable = _scorable(texts, range(start, start + len(texts)))
        chosen = [text for text, has in zip(texts, scorable, strict=True) if has]
        found = iter(self.predictor.predict(chosen, explain=explain))
        return [next(found) if has else None for has in scorable]


def _scorable(values: Sequence[Any], names: Iterable[Any]) -> np.ndarray:
    """Return which values have text; missing or blank ones have none, anything else is an error."""
    mask = np.zeros(len(values), dtype=bool)
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        if isinstance(value, str):
            mask[i] = bool(value.strip())
        elif not _is_missing(value):
            raise TypeError(f"texts[{name!r}] is a {type(value).__name__}, not a string")
    return mask


def _is_missing(value: Any) -> bool:
    """None, NaN (pandas' missing float, numpy's) or pandas.NA."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    pandas = sys.modules.get("pandas")  # pandas.NA can only come from a loaded pandas
    return pandas is not None and value is pandas.NA
