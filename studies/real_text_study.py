"""Which features carry over to text we did not write: each lever measured side by side.

    .venv/bin/python -m studies.real_text_study [--quick]

For each candidate: 5-fold cross-validated macro-F1 on data/statements.csv, and macro-F1 on the
two held-out files (data/news_test.csv, our stand-in for real news, and data/test.csv) after
fitting on all of statements.csv. The held-out files are only scored here, never trained on; the
README's "Real text" table is this script's output.
"""

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from threadpoolctl import threadpool_limits

from model.features import Analyzer
from model.labels import LABEL_COLUMN, TEXT_COLUMN
from model.pipeline import DEFAULT_PARAMS, RANDOM_STATE, build_pipeline
from training.data import read_labelled

DATA = Path("data/statements.csv")
HELD_OUT = (Path("data/news_test.csv"), Path("data/test.csv"))
BOOTSTRAP = 1000

PLAIN = Analyzer(fold_spelling=False, mask_actors=False)

CANDIDATES: dict[str, dict[str, Any]] = {
    "lemmas + negation (before)": {"tfidf__tokenizer": PLAIN},
    "+ spelling folded": {"tfidf__tokenizer": Analyzer(fold_spelling=True, mask_actors=False)},
    "+ actors masked": {"tfidf__tokenizer": Analyzer(fold_spelling=False, mask_actors=True)},
    "+ both (the analyzer now)": {},
    "both, min_df=2": {"tfidf__min_df": 2},
    "both, min_df=2, C=10": {"tfidf__min_df": 2, "clf__C": 10.0},
    "both, max_features=50000": {"tfidf__max_features": 50000},
    "both, word 1-3": {"tfidf__ngram_range": (1, 3)},
}


def interval(truth: np.ndarray, predicted: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of macro-F1 over the statements."""
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(truth), len(truth))
        scores.append(f1_score(truth[pick], predicted[pick], average="macro"))
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(low), float(high)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv  # no cross-validation: held-out scores only
    train = read_labelled(DATA)
    texts, labels = train[TEXT_COLUMN].tolist(), train[LABEL_COLUMN].to_numpy()
    held = {path.name: read_labelled(path) for path in HELD_OUT}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
    print(f"trained on {len(texts)} statements of {DATA}; defaults {DEFAULT_PARAMS}")
    header = f"{'candidate':<30}{'CV':>8}"
    for name in held:
        header += f"{name:>30}"
    print(header + f"{'fit s':>8}")
    for name, params in CANDIDATES.items():
        with threadpool_limits(limits=1):
            cv = (
                float("nan")
                if quick
                else cross_val_score(
                    build_pipeline(params), texts, labels, cv=folds, scoring="f1_macro"
                ).mean()
            )
            started = time.perf_counter()
            model = build_pipeline(params).fit(texts, labels)
            seconds = time.perf_counter() - started
        line = f"{name:<30}{cv:>8.3f}"
        for frame in held.values():
            truth = frame[LABEL_COLUMN].to_numpy()
            predicted = model.predict(frame[TEXT_COLUMN].tolist())
            low, high = interval(truth, predicted)
            score = f1_score(truth, predicted, average="macro")
            line += f"{score:>14.3f} ({low:.3f}-{high:.3f})"
        print(line + f"{seconds:>8.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
