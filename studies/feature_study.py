"""Compare feature sets by cross-validated macro-F1 and prediction throughput, side by side.

    .venv/bin/python -m studies.feature_study

Uses data/statements.csv only (never data/test.csv). The README's "The model" section quotes it.
"""

import re
import sys
import time
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import FeatureUnion

from model.features import lemmas
from model.labels import LABEL_COLUMN, TEXT_COLUMN
from model.pipeline import RANDOM_STATE, build_pipeline
from training.data import read_labelled

WORD = r"(?u)\b\w[\w'-]*\b"


def plain_lemmas(text: str) -> list[str]:
    """Lemmas without negation marking, to measure what the marking adds."""
    return [lemma for word in re.findall(WORD, text) for lemma in lemmas(word.lower())]


def char_features() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)


def candidates() -> dict:
    word = {
        name: build_pipeline({"tfidf__ngram_range": span})
        for name, span in (("word 1", (1, 1)), ("word 1-2", (1, 2)), ("word 1-3", (1, 3)))
    }
    surface = build_pipeline({"tfidf__tokenizer": None, "tfidf__token_pattern": WORD})
    char = build_pipeline()
    char.steps[0] = ("tfidf", char_features())
    both = build_pipeline()
    both.steps[0] = ("tfidf", FeatureUnion([("word", both.steps[0][1]), ("char", char_features())]))
    unmarked = build_pipeline({"tfidf__tokenizer": plain_lemmas})
    return {
        **word,
        "word 1-2, no negation marks": unmarked,
        "word 1-2, no lemmas": surface,
        "char_wb 2-5": char,
        "word 1-2 + char_wb 2-5": both,
    }


def main(path: Path = Path("data/statements.csv")) -> None:
    frame = read_labelled(path)
    texts, labels = frame[TEXT_COLUMN].tolist(), frame[LABEL_COLUMN].to_numpy()
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
    many = texts * 10
    print(f"{len(texts)} statements from {path}; 5-fold CV; throughput on {len(many):,} texts")
    print("word n-grams are over lemmas with negation marks unless stated")
    print(f"{'features':<30}{'macro-F1':>10}{'± std':>8}{'texts/s':>12}{'vs word 1-2':>13}")
    baseline = None
    for name, pipeline in candidates().items():
        scores = cross_val_score(pipeline, texts, labels, cv=folds, scoring="f1_macro")
        pipeline.fit(texts, labels)
        started = time.perf_counter()
        pipeline.predict_proba(many)
        rate = len(many) / (time.perf_counter() - started)
        baseline = rate if name == "word 1-2" else baseline
        relative = f"{baseline / rate:.1f}x slower" if baseline and name != "word 1-2" else ""
        print(f"{name:<30}{scores.mean():>10.3f}{scores.std():>8.3f}{rate:>12,.0f}{relative:>13}")


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:]))
