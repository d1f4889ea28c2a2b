"""Fit the pipeline on the labelled corpus, evaluate it, and store it as a verified artifact."""

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold
from threadpoolctl import threadpool_limits

from model.artifact import library_versions, save_artifact
from model.labels import LABEL_COLUMN, LABELS, TEXT_COLUMN
from model.pipeline import CALIBRATE, DEFAULT_PARAMS, RANDOM_STATE, build_pipeline, calibrated
from model.predict import Predictor
from model.versions import DEFAULT_KEEP, compared_with, promote, prune
from training.data import HELD_OUT_FILE, load_corpus
from training.metrics import metrics
from training.report import write_report

# A small search over what studies/real_text_study.py found to matter on held-out news:
# regularisation and the rarest words kept. Word 1-2-grams won there (1-3 lost and fits 3x
# slower), as did no feature cap, so both stay fixed in DEFAULT_PARAMS.
PARAM_GRID: dict[str, list[Any]] = {
    "clf__C": [10.0, 30.0, 100.0],
    "tfidf__min_df": [1, 2],
}
CV_FOLDS = 5

# on_progress(stage, done, total): each stage of training reports its steps as they finish.
Progress = Callable[[str, int, int], None]
CHECKING = "checking the data"
SEARCHING = "cross-validation fits"
FITTING = "fitting on all statements"
EVALUATING = "evaluating on the held-out files"


def _silent(stage: str, done: int, total: int) -> None:
    pass


@contextlib.contextmanager
def _counting_fits(on_fits: Callable[[int], None]) -> Iterator[None]:
    """Call on_fits(fits done so far) as joblib finishes each one.

    GridSearchCV has no callback of its own; joblib calls print_progress after every task, in
    the main process, whatever the backend.
    """
    original = joblib.Parallel.print_progress

    def print_progress(parallel: joblib.Parallel) -> None:
        on_fits(parallel.n_completed_tasks)
        original(parallel)

    joblib.Parallel.print_progress = print_progress
    try:
        yield
    finally:
        joblib.Parallel.print_progress = original


def new_version(data_sha256: str, model_dir: Path) -> str:
    """Return a sortable, readable, unused version id: UTC time and a data-hash prefix."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    version = f"{stamp}-{data_sha256[:8]}"
    suffix = 2
    while (model_dir / version).exists():
        version = f"{stamp}-{data_sha256[:8]}-{suffix}"
        suffix += 1
    return version


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def simplest_within_one_standard_error(cv_results: dict[str, Any]) -> int:
    """Return the most regularised candidate whose score is within one standard error of the best.

    Our statements come from one team of writers; real ones do not. Among candidates that
    cross-validation cannot tell apart, the simplest (smallest C, then shortest n-grams) is the
    one most likely to hold up on text written by others.
    """
    means, stds = cv_results["mean_test_score"], cv_results["std_test_score"]
    best = int(np.argmax(means))
    # The fold-to-fold spread of one candidate is itself a noisy estimate (it ranged from 0.003
    # to 0.009 between runs here): use the typical spread across candidates.
    threshold = means[best] - np.median(stds) / np.sqrt(CV_FOLDS)
    candidates = [i for i in range(len(means)) if means[i] >= threshold]

    def simplicity(i: int) -> tuple[float, int, int]:
        params = {**DEFAULT_PARAMS, **cv_results["params"][i]}
        # Fewer features is simpler: a larger min_df keeps only words seen in several statements.
        return params["clf__C"], params["tfidf__ngram_range"][1], -params["tfidf__min_df"]

    return min(candidates, key=simplicity)


def _final_fit(cv_results: dict[str, Any], best: int, calibrate: bool) -> str:
    """Name the last fit, on all of train, with how long the folds' fit times say it will take."""
    # A fold's fit saw (folds - 1) / folds of the data; calibration fits one model per fold more.
    scale = CV_FOLDS / (CV_FOLDS - 1) + (CV_FOLDS if calibrate else 0)
    seconds = float(cv_results["mean_fit_time"][best]) * scale
    return f"{FITTING} (about {seconds:.0f} s)"


class RefitRule:
    """GridSearchCV's refit=callable: the one-standard-error pick, refitted on all of train.

    Called once the folds are done, just before the refit, it announces that last fit. sklearn
    also sends the callable to joblib's workers with every task (they never call it), and the
    announcement cannot travel (a tqdm stream on a terminal does not unpickle there): a pickled
    RefitRule leaves it behind.
    """

    def __init__(self, announce: Callable[[str], None] | None = None, calibrate: bool = False):
        self.announce, self.calibrate = announce, calibrate

    def __call__(self, cv_results: dict[str, Any]) -> int:
        best = simplest_within_one_standard_error(cv_results)
        if self.announce is not None:
            self.announce(_final_fit(cv_results, best, self.calibrate))
        return best

    def __reduce__(self) -> tuple[type, tuple[None, bool]]:
        return (type(self), (None, self.calibrate))


def fit(
    train: pd.DataFrame,
    search: bool = True,
    calibrate: bool = CALIBRATE,
    on_progress: Progress = _silent,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Fit on train only; return the model, its parameters and its cross-validated scores."""
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=RANDOM_STATE)
    grid = PARAM_GRID if search else {}
    fits = len(ParameterGrid(grid or [{}])) * CV_FOLDS
    texts, labels = train[TEXT_COLUMN].tolist(), train[LABEL_COLUMN].to_numpy()

    def fitted(done: int) -> None:
        on_progress(SEARCHING, min(done, fits), fits)

    searcher = GridSearchCV(
        build_pipeline(),
        grid or [{}],
        scoring="f1_macro",
        cv=folds,
        n_jobs=-1,  # one fit per core: the search is most of training's time
        refit=RefitRule(lambda name: on_progress(name, 0, 1), calibrate),
    )
    # One BLAS thread: on these small sparse problems more threads only contend (3x slower
    # on a busy 2-core machine, measured), and a server's cores belong to its workers.
    fitted(0)
    with threadpool_limits(limits=1):
        with _counting_fits(fitted):
            searcher.fit(texts, labels)
        model = searcher.best_estimator_
        if calibrate:
            # Calibration fits its own pipelines (one per fold, then one on all of train), so
            # the search's refit is not reused: one fit more, on a path that is off by default.
            model = calibrated(build_pipeline(searcher.best_params_), CV_FOLDS).fit(texts, labels)
    best, results = searcher.best_index_, searcher.cv_results_
    on_progress(_final_fit(results, best, calibrate), 1, 1)
    cross_validated = {
        "folds": CV_FOLDS,
        "macro_f1_mean": round(float(results["mean_test_score"][best]), 4),
        "macro_f1_std": round(float(results["std_test_score"][best]), 4),
        "searched": [
            {"params": _jsonable(p), "macro_f1": round(float(s), 4)}
            for p, s in zip(results["params"], results["mean_test_score"], strict=True)
        ],
    }
    params = searcher.best_estimator_.get_params()
    chosen = {name: params[name] for name in (*DEFAULT_PARAMS, *PARAM_GRID, "tfidf__sublinear_tf")}
    calibration = {"calibration": "sigmoid" if calibrate else "none"}
    return model, {**_jsonable(chosen), **calibration}, cross_validated


def train(
    statements: Path,
    test: Path | Sequence[Path],
    model_dir: Path,
    search: bool = True,
    keep: int = DEFAULT_KEEP,
    feedback: pd.DataFrame | None = None,
    calibrate: bool = CALIBRATE,
    on_progress: Progress = _silent,
) -> tuple[Path, dict[str, Any]]:
    """Validate the data, fit, evaluate on the held-out file, save, make it current, prune.

    feedback: the users' corrections to add to the statements (training.data.read_feedback).
    """
    tests = [test] if isinstance(test, Path) else list(test)
    on_progress(CHECKING, 0, 1)
    train_frame, test_frame = load_corpus(statements, tests, feedback)
    on_progress(CHECKING, 1, 1)
    pipeline, params, cross_validated = fit(train_frame, search, calibrate, on_progress)
    on_progress(EVALUATING, 0, 1)
    predicted = pipeline.predict(test_frame[TEXT_COLUMN].tolist())
    held_out = metrics(test_frame[LABEL_COLUMN], predicted)
    by_file = {
        name: metrics(test_frame[LABEL_COLUMN][rows], predicted[rows.to_numpy()])
        for name, rows in ((n, test_frame[HELD_OUT_FILE] == n) for n in (p.name for p in tests))
    }
    data_sha256 = hashlib.sha256(statements.read_bytes()).hexdigest()
    metadata = {
        "version": new_version(data_sha256, model_dir),
        "labels": list(LABELS),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "data": {
            "train_file": statements.name,
            "train_sha256": data_sha256,
            "train_rows": len(train_frame),
            "test_files": [
                {
                    "file": path.name,
                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                    "rows": by_file[path.name]["n"],
                }
                for path in tests
            ],
            "test_rows": len(test_frame),
            "feedback_rows": 0 if feedback is None else len(feedback),
            "feedback_sha256": None
            if feedback is None
            else hashlib.sha256(feedback.to_csv(index=False).encode()).hexdigest(),
        },
        "params": params,
        "metrics": {
            "cross_validated": cross_validated,
            "held_out": held_out,
            "held_out_by_file": by_file,
        },
    }
    version_dir = save_artifact(pipeline, metadata, model_dir)
    write_training_report(version_dir, model_dir, test_frame, train_frame[LABEL_COLUMN])
    on_progress(EVALUATING, 1, 1)
    promote(model_dir, metadata["version"])
    prune(model_dir, keep)
    return version_dir, metadata


def write_training_report(
    version_dir: Path, model_dir: Path, test_frame: pd.DataFrame, train_labels: pd.Series
) -> None:
    """Write the new version's report beside it, compared with the version it will replace."""
    deployed = compared_with(model_dir, version_dir.name)
    write_report(
        Predictor.load(version_dir), test_frame, version_dir / "report", deployed, train_labels
    )
