"""Score a CSV of statements in chunks: flat memory, one vectorised call per chunk."""

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from model import LABELS, TEXT_COLUMN, Predictor
from model.artifact import atomic_file

CHUNK_ROWS = 50_000
OUTPUT_COLUMNS = ("label", "confidence", *(f"p_{label}" for label in LABELS))
STDIO = "-"


class ScoreError(Exception):
    """The input cannot be scored; the message is one line that names the problem."""


@dataclass
class ScoreSummary:
    """What a scoring run did."""

    rows: int = 0
    empty: int = 0
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        per_label = ", ".join(f"{label} {self.counts[label]}" for label in LABELS)
        return (
            f"scored {self.rows} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s): "
            f"{per_label}; {self.empty} empty"
        )


def score_frame(predictor: Predictor, frame: pd.DataFrame, text_column: str) -> pd.DataFrame:
    """Return frame with the output columns added; rows with empty text get an empty label."""
    texts = frame[text_column]
    has_text = (texts.str.strip() != "").to_numpy()
    probabilities = np.full((len(frame), len(LABELS)), np.nan)
    labels = np.full(len(frame), "", dtype=object)
    confidence = np.full(len(frame), np.nan)
    if has_text.any():
        found = predictor.probabilities(texts[has_text].tolist())
        probabilities[has_text] = found
        labels[has_text] = np.asarray(LABELS, dtype=object)[found.argmax(axis=1)]
        confidence[has_text] = found.max(axis=1)
    scored = frame.copy()
    scored["label"] = labels
    scored["confidence"] = confidence
    for i, label in enumerate(LABELS):
        scored[f"p_{label}"] = probabilities[:, i]
    return scored


def _chunks(source: str | Path, text_column: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    handle = sys.stdin.buffer if str(source) == STDIO else source
    try:
        reader = pd.read_csv(
            handle,
            dtype=str,
            keep_default_na=False,  # "NA", "None" and "null" are statements, not missing values
            na_filter=False,
            encoding="utf-8",
            chunksize=chunk_rows,
        )
        with reader:
            first = True
            for chunk in reader:
                if first:
                    _check_columns(list(chunk.columns), text_column)
                    first = False
                yield chunk
    except FileNotFoundError:
        raise ScoreError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise ScoreError(f"{source}: is a directory, not a CSV file") from None
    except PermissionError:
        raise ScoreError(f"{source}: permission denied") from None
    except UnicodeDecodeError as error:
        raise ScoreError(
            f"{source}: not UTF-8 text ({error.reason} at byte {error.start} of a chunk)"
        ) from None
    except pd.errors.EmptyDataError:
        raise ScoreError(f"{source}: empty file, expected a CSV with a header row") from None
    except pd.errors.ParserError as error:
        raise ScoreError(f"{source}: not a readable CSV: {str(error).strip()}") from None


def _check_columns(columns: list[str], text_column: str) -> None:
    if text_column not in columns:
        raise ScoreError(
            f"no column {text_column!r} in the input; its columns are: {', '.join(columns)} "
            f"(choose one with --text-column)"
        )
    clashing = [c for c in OUTPUT_COLUMNS if c in columns]
    if clashing:
        raise ScoreError(
            f"the input already has output column(s) {', '.join(clashing)}: rename them or "
            f"score the original file"
        )


@contextmanager
def _atomic_output(destination: str | Path) -> Iterator[IO[str]]:
    """Yield a handle whose content appears at destination only if the block completes."""
    if str(destination) == STDIO:
        yield sys.stdout
        sys.stdout.flush()
        return
    destination = Path(destination)
    if destination.is_dir():
        raise ScoreError(f"{destination}: is a directory; give a file name for the output")
    if not destination.parent.is_dir():
        raise ScoreError(f"{destination.parent}: no such folder for the output")
    with atomic_file(destination, suffix=".partial", newline="") as handle:
        yield handle


def score_csv(
    predictor: Predictor,
    source: str | Path,
    destination: str | Path,
    text_column: str = TEXT_COLUMN,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score source into destination ("-" for stdin/stdout); destination appears only when done."""
    summary = ScoreSummary()
    started = time.perf_counter()
    with _atomic_output(destination) as output:
        wrote_header = False
        for chunk in _chunks(source, text_column, chunk_rows):
            scored = score_frame(predictor, chunk, text_column)
            scored.to_csv(output, index=False, header=not wrote_header, float_format="%.6f")
            wrote_header = True
            summary.rows += len(scored)
            summary.empty += int((scored["label"] == "").sum())
            summary.counts.update(scored.loc[scored["label"] != "", "label"])
            if on_chunk:
                on_chunk(len(scored))
        if not wrote_header:
            raise ScoreError(f"{source}: empty file, expected a CSV with a header row")
    summary.seconds = time.perf_counter() - started
    return summary
