"""Loading a model never runs code that training did not write, and every failure is a refusal.

Each test plants a file as an attacker who can write to the artifacts folder would: the new file
under the name Stance loads, with its checksum written into the metadata beside it. A version is
scored from its tables (scorer.npz) when it has them, so a planted pipeline also drops the tables:
that is what an attacker would do to make Stance read it.
"""

import importlib.metadata
import json
import os
import pickle
import shutil
import subprocess
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests
import skops.io

from model import ArtifactError, Predictor
from model.artifact import (
    EXPORT_FILE,
    METADATA_FILE,
    MODEL_FILE,
    SCORER_FILE,
    TRUSTED_TYPES,
    current_version,
    installed_version,
    sha256_of,
)
from model.fast import from_lines
from model.pipeline import build_pipeline
from service.app import create_app
from service.cli import main

from ..helpers import BIN, ROOT, free_port

MARKER = "code-ran.marker"


class Planted:
    """An object whose loading creates a marker file: what a hostile model would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __setstate__(self, state):  # skops and pickle both call this when rebuilding
        Path(state["marker"]).touch()
        self.__dict__.update(state)

    def __reduce__(self):  # pickle calls open(marker, "w") on load
        return (open, (self.marker, "w"))


@pytest.fixture
def victim(model_dir, tmp_path) -> tuple[Path, Path, Path]:
    """A private copy of the trained model folder, its current version, and the marker path."""
    target = tmp_path / "artifacts"
    shutil.copytree(model_dir, target)
    return target, target / current_version(target), tmp_path / MARKER


def drop_tables(version_dir: Path) -> None:
    """Make version_dir a version trained before the tables were stored."""
    metadata = json.loads((version_dir / METADATA_FILE).read_text())
    del metadata["scorer_sha256"]
    (version_dir / METADATA_FILE).write_text(json.dumps(metadata))
    (version_dir / SCORER_FILE).unlink()


def plant(version_dir: Path, payload: Path, name: str = MODEL_FILE) -> None:
    """Replace a model file and rewrite its checksum, as someone who can write there would.

    Planting the pipeline also removes the tables, so that Stance has to read the pipeline.
    """
    if name == MODEL_FILE:
        drop_tables(version_dir)
    shutil.copy(payload, version_dir / name)
    metadata = json.loads((version_dir / METADATA_FILE).read_text())
    if name == MODEL_FILE:
        metadata["sha256"] = sha256_of(version_dir / MODEL_FILE)
    else:
        metadata["scorer_sha256"] = sha256_of(version_dir / SCORER_FILE)
    (version_dir / METADATA_FILE).write_text(json.dumps(metadata))


def planted_skops(tmp_path: Path, marker: Path) -> Path:
    pipeline = build_pipeline({"tfidf__tokenizer": Planted(marker)})
    path = tmp_path / "planted.skops"
    skops.io.dump(pipeline, path)
    return path


def planted_pickle(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "planted.pickle"
    path.write_bytes(pickle.dumps(Planted(marker)))
    return path


def planted_tables(tmp_path: Path, marker: Path) -> Path:
    """Tables whose arrays are pickles: numpy writes an object array as one."""
    path = tmp_path / "planted.npz"
    hostile = np.asarray([Planted(marker)], dtype=object)
    np.savez(path, terms=hostile, idf=hostile, coef=hostile, intercept=hostile, settings=hostile)
    return path


@pytest.mark.parametrize(
    "make, name",
    [(planted_skops, MODEL_FILE), (planted_pickle, MODEL_FILE), (planted_tables, SCORER_FILE)],
)
def test_a_planted_model_runs_no_code_anywhere(victim, tmp_path, make, name, runner):
    model_dir, version_dir, marker = victim
    plant(version_dir, make(tmp_path, marker), name)
    version = version_dir.name

    with pytest.raises(ArtifactError):
        Predictor.load(version_dir)
    result = runner.invoke(main, ["predict", "--model-dir", str(model_dir), "Talks resumed."])
    assert (result.exit_code != 0 and "refusing" in result.output + str(result.stderr)) or (
        "not a loadable" in result.output
    ), result.output
    promoted = runner.invoke(main, ["promote", "--model-dir", str(model_dir), version])
    assert promoted.exit_code == 1, promoted.output
    assert len(promoted.output.strip().splitlines()) == 1, promoted.output
    client = create_app({"TESTING": True, "MODEL_DIR": str(model_dir)}).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.is_json
    assert not marker.exists(), "loading the planted model ran its code"


def test_an_old_pickle_only_version_is_refused_without_unpickling(victim, tmp_path):
    _, version_dir, marker = victim
    drop_tables(version_dir)
    (version_dir / MODEL_FILE).unlink()
    shutil.copy(planted_pickle(tmp_path, marker), version_dir / EXPORT_FILE)
    with pytest.raises(ArtifactError, match="only as a pickle"):
        Predictor.load(version_dir)
    assert not marker.exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
        lambda path: skops.io.dump({"not": "a model"}, path),
        lambda path: skops.io.dump(build_pipeline(), path),  # a pipeline never fitted
    ],
    ids=["truncated", "not-a-model", "unfitted"],
)
def test_a_broken_model_with_a_matching_checksum_is_a_refusal(victim, tmp_path, damage):
    _, version_dir, _ = victim
    broken = tmp_path / "broken.skops"
    shutil.copy(version_dir / MODEL_FILE, broken)
    damage(broken)
    plant(version_dir, broken)
    with pytest.raises(ArtifactError):
        Predictor.load(version_dir)


def test_a_stored_version_scores_without_importing_scikit_learn(model_dir):
    # Importing scikit-learn (and skops's list of trusted types) is most of a scoring run's
    # start-up and memory: the tables make it unneeded, until the pipeline itself is asked for.
    script = (
        "import sys\n"
        "from model import Predictor\n"
        f"predictor = Predictor.load_current({str(model_dir)!r})\n"
        "prediction = predictor.predict(['Moscow warned of countermeasures.'], explain=True)[0]\n"
        "assert prediction.label == 'warning', prediction\n"
        "assert 'sklearn' not in sys.modules and 'skops' not in sys.modules\n"
        "predictor.verify()\n"
        "assert 'sklearn' in sys.modules\n"
    )
    subprocess.run([BIN / "python", "-c", script], cwd=ROOT, check=True, timeout=300)


def test_installed_versions_are_the_ones_importlib_metadata_finds(tmp_path, monkeypatch):
    for name in ("scikit-learn", "numpy", "Flask", "pydantic-core", "stance"):
        assert installed_version(name) == importlib.metadata.version(name)
    # The first folder on sys.path wins, and only its headers are read.
    planted = tmp_path / "scikit_learn-0.0.1.dist-info"
    planted.mkdir()
    (planted / "METADATA").write_text("Name: scikit-learn\nVersion: 0.0.1\n\nVersion: 9\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert installed_version("scikit-learn") == "0.0.1"
    assert importlib.metadata.version("scikit-learn") == "0.0.1"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        installed_version("no-such-distribution")


def test_a_version_without_tables_loads_its_pipeline_and_takes_the_fast_path(victim):
    _, version_dir, _ = victim
    drop_tables(version_dir)
    predictor = Predictor.load(version_dir)
    assert predictor.fast is not None and predictor._model is not None
    predictor.verify()


def test_tables_that_disagree_with_the_pipeline_are_refused_by_promote(victim, tmp_path, runner):
    model_dir, version_dir, _ = victim
    with np.load(version_dir / SCORER_FILE) as stored:
        arrays = dict(stored)
    arrays["intercept"] = arrays["intercept"][::-1].copy()  # a different model, well formed
    altered = tmp_path / "altered.npz"
    np.savez_compressed(altered, **arrays)
    plant(version_dir, altered, SCORER_FILE)
    with pytest.raises(ArtifactError, match="disagree"):
        Predictor.load(version_dir).verify()
    promoted = runner.invoke(main, ["promote", "--model-dir", str(model_dir), version_dir.name])
    assert promoted.exit_code == 1 and "disagree" in promoted.output, promoted.output


def test_tables_stored_as_earlier_versions_stored_them_load_the_same(victim, tmp_path):
    # Before term_lines, the terms were an array of strings, and the file was compressed.
    _, version_dir, _ = victim
    texts = ["Moscow warned of countermeasures.", "The talks will open in Geneva on Monday."]
    expected = Predictor.load(version_dir).probabilities(texts)
    with np.load(version_dir / SCORER_FILE) as stored:
        arrays = dict(stored)
    arrays["terms"] = np.asarray(from_lines(arrays.pop("term_lines")), dtype=str)
    earlier = tmp_path / "earlier.npz"
    np.savez_compressed(earlier, **arrays)
    plant(version_dir, earlier, SCORER_FILE)
    assert (Predictor.load(version_dir).probabilities(texts) == expected).all()


def test_a_fresh_model_needs_no_trust_beyond_the_list(model_dir):
    path = model_dir / current_version(model_dir) / MODEL_FILE
    assert set(skops.io.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)


def test_the_joblib_export_is_the_same_model(predictor, model_dir):
    exported = joblib.load(model_dir / current_version(model_dir) / EXPORT_FILE)
    texts = ["Moscow warned of countermeasures.", "The talks will open in Geneva on Monday."]
    # The same numbers as the version's own pipeline, bit for bit; the fast path equals both
    # within 1e-9 (tests/model/test_fast.py), as it sums in another order.
    assert (exported.predict_proba(texts) == predictor.model.predict_proba(texts)).all()


@pytest.mark.server
def test_gunicorn_with_a_broken_model_stays_up_and_says_why(victim, tmp_path):
    model_dir, version_dir, _ = victim
    broken = tmp_path / "truncated.skops"
    broken.write_bytes((version_dir / MODEL_FILE).read_bytes()[:5000])
    plant(version_dir, broken)
    port = free_port()
    env = {
        **os.environ,
        "STANCE_MODEL_DIR": str(model_dir),
        "STANCE_FEEDBACK_DB": str(tmp_path / "f.db"),
    }
    server = subprocess.Popen(
        [BIN / "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "gunicorn exited instead of serving 503"
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn never answered"
            time.sleep(0.2)
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.headers["Content-Type"].startswith("application/problem+json")
        assert "not a loadable model" in ready.json()["detail"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_names_stored_models_refer_to_stay_importable():
    from model.features import Analyzer
    from model.pipeline import lemma_tokens  # the first models' tokenizer, pickled by this name

    assert Analyzer.__module__ == "model.features" and callable(lemma_tokens)
