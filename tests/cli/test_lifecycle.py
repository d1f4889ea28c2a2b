"""Model versions, promotion and rollback, hot reload under load, the admin endpoint, SIGHUP,
and reproducible training."""

import json
import shutil
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import requests

from model import ArtifactError, Predictor
from model.artifact import MODEL_FILE, current_version
from model.atomic import write_atomically
from model.versions import compared_with, history, list_versions, promote, prune, rollback
from service.app import create_app
from service.cli import main
from training.train import train

from ..helpers import DATA, TEST_DATA, WARNING, assert_problem, start_gunicorn, stop


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """Two small, different training files: quick to train, different models."""
    folder = tmp_path_factory.mktemp("small")
    corpus = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    for i, name in enumerate(("a.csv", "b.csv")):
        corpus.groupby("label").nth(range(i * 120, i * 120 + 120)).to_csv(
            folder / name, index=False
        )
    return folder


@pytest.fixture(scope="module")
def two_trained_versions(small_data, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("two") / "artifacts"
    first = train(small_data / "a.csv", TEST_DATA, model_dir, search=False)[1]["version"]
    second = train(small_data / "b.csv", TEST_DATA, model_dir, search=False)[1]["version"]
    assert first != second
    return model_dir, first, second


@pytest.fixture
def two_versions(two_trained_versions, tmp_path):
    """A private model directory holding two versions; the second is current."""
    source, first, second = two_trained_versions
    model_dir = tmp_path / "artifacts"
    shutil.copytree(source, model_dir)
    return model_dir, first, second


def test_versions_are_listed_newest_first_with_the_current_marked(two_versions):
    model_dir, first, second = two_versions
    versions = list_versions(model_dir)
    assert [v.version for v in versions] == [second, first]
    assert [v.current for v in versions] == [True, False]
    assert all(v.held_out_macro_f1 is not None for v in versions)


def test_promote_and_rollback(two_versions):
    model_dir, first, second = two_versions
    promote(model_dir, first)
    assert current_version(model_dir) == first
    assert rollback(model_dir) == second
    assert current_version(model_dir) == second
    assert history(model_dir)[-1] == second
    with pytest.raises(ArtifactError, match="nothing to roll back to"):
        rollback(model_dir) if rollback(model_dir) == first else None


def test_a_version_is_compared_with_the_current_one_or_the_one_it_replaced(two_versions):
    model_dir, first, second = two_versions
    assert compared_with(model_dir, first).version == second  # second is current
    assert compared_with(model_dir, second).version == first  # it replaced first
    report = json.loads((model_dir / second / "report" / "report.json").read_text())
    assert report["deployed"]["model_version"] == first  # what training compared it with
    shutil.rmtree(model_dir / first)  # pruned: nothing left to compare with
    assert compared_with(model_dir, second) is None


def test_promote_refuses_an_unknown_or_tampered_version(two_versions):
    model_dir, first, second = two_versions
    with pytest.raises(ArtifactError, match="no model version"):
        promote(model_dir, "20990101-000000-deadbeef")
    with open(model_dir / first / MODEL_FILE, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        promote(model_dir, first)
    assert current_version(model_dir) == second


@pytest.mark.slow
def test_prune_keeps_the_newest_and_the_current(two_versions, small_data):
    model_dir, first, second = two_versions
    third = train(small_data / "a.csv", TEST_DATA, model_dir, search=False, keep=10)[1]["version"]
    promote(model_dir, first)
    removed = prune(model_dir, keep=1)
    assert removed == [second] or removed == []  # second is the rollback target: kept
    kept = {v.version for v in list_versions(model_dir)}
    assert {first, third} <= kept


@pytest.mark.slow
def test_training_keeps_a_configurable_number_of_versions(small_data, tmp_path):
    model_dir = tmp_path / "artifacts"
    for _ in range(3):
        train(small_data / "a.csv", TEST_DATA, model_dir, search=False, keep=2)
    assert len(list_versions(model_dir)) == 2


def test_cli_models_promote_rollback(two_versions, runner):
    model_dir, first, second = two_versions
    listed = runner.invoke(main, ["models", "--model-dir", str(model_dir)])
    assert listed.exit_code == 0
    assert f"* {second}" in listed.output and f"  {first}" in listed.output
    promoted = runner.invoke(main, ["promote", first, "--model-dir", str(model_dir)])
    assert promoted.exit_code == 0 and current_version(model_dir) == first
    back = runner.invoke(main, ["rollback", "--model-dir", str(model_dir)])
    assert back.exit_code == 0 and current_version(model_dir) == second
    unknown = runner.invoke(main, ["promote", "nope", "--model-dir", str(model_dir)])
    assert unknown.exit_code == 1 and "no model version 'nope'" in unknown.output
    as_json = json.loads(
        runner.invoke(main, ["models", "--json", "--model-dir", str(model_dir)]).output
    )
    assert [v["version"] for v in as_json] == [second, first]


def hot_app(model_dir, **config):
    return create_app(
        {"TESTING": True, "MODEL_DIR": str(model_dir), "MODEL_CHECK_SECONDS": 0, **config}
    )


def test_a_promoted_version_is_picked_up_without_a_restart(two_versions):
    model_dir, first, second = two_versions
    client = hot_app(model_dir).test_client()
    assert client.get("/readyz").get_json()["model_version"] == second
    promote(model_dir, first)
    response = client.post("/v1/predict", json={"text": WARNING})
    assert response.get_json()["model_version"] == first
    assert response.headers["X-Model-Version"] == first


def test_a_tampered_version_is_refused_and_the_old_one_keeps_serving(two_versions):
    model_dir, first, second = two_versions
    client = hot_app(model_dir).test_client()
    with open(model_dir / first / MODEL_FILE, "ab") as handle:
        handle.write(b"tampered")
    write_atomically(model_dir / "CURRENT", first + "\n")  # as if tampered after promotion
    response = client.post("/v1/predict", json={"text": WARNING})
    assert response.status_code == 200
    assert response.get_json()["model_version"] == second
    assert client.get("/readyz").get_json()["model_version"] == second


def test_admin_reload_exists_only_with_a_token(two_versions):
    model_dir, _, _ = two_versions
    assert_problem(hot_app(model_dir).test_client().post("/v1/admin/reload"), 404)


def test_admin_reload_checks_the_token(two_versions):
    model_dir, first, second = two_versions
    client = hot_app(model_dir, ADMIN_TOKEN="s3cret", MODEL_CHECK_SECONDS=3600).test_client()
    missing = client.post("/v1/admin/reload")
    assert_problem(missing, 401, "Bearer")
    assert missing.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert_problem(client.post("/v1/admin/reload", headers={"Authorization": "Bearer nope"}), 403)
    promote(model_dir, first)
    ok = client.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert ok.get_json() == {"model_version": first, "previous_version": second}


def test_admin_reload_refuses_a_broken_model(two_versions):
    model_dir, first, second = two_versions
    client = hot_app(model_dir, ADMIN_TOKEN="s3cret", MODEL_CHECK_SECONDS=3600).test_client()
    (model_dir / first / MODEL_FILE).write_bytes(b"not a model")
    write_atomically(model_dir / "CURRENT", first + "\n")
    refused = client.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert_problem(refused, 409, "still serving " + second, "checksum")
    assert client.post("/v1/predict", json={"text": WARNING}).get_json()["model_version"] == second


@pytest.mark.server
def test_sighup_makes_gunicorn_serve_the_new_current_version(two_versions):
    model_dir, first, second = two_versions
    process, base = start_gunicorn(model_dir, model_dir.parent, MODEL_CHECK_SECONDS="3600")
    try:
        promote(model_dir, first)
        time.sleep(0.5)
        assert requests.get(f"{base}/readyz", timeout=5).json()["model_version"] == second
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 180
        versions: set[str] = set()
        while time.monotonic() < deadline:
            # Both workers must have been replaced: ask several times and see only the new one.
            # A request that arrives while the new workers load the model waits for one of them
            # (a minute on a heavily loaded machine), so allow it far more than the usual 5 s.
            versions = {
                requests.get(f"{base}/readyz", timeout=90).json()["model_version"] for _ in range(6)
            }
            if versions == {first}:
                break
            time.sleep(0.3)
        assert versions == {first}
    finally:
        stop(process)


@pytest.mark.slow
@pytest.mark.server
def test_swapping_versions_under_load_fails_no_request(two_versions):
    model_dir, first, second = two_versions
    process, base = start_gunicorn(model_dir, model_dir.parent, MODEL_CHECK_SECONDS="0")
    answers: list[tuple[int, str, str]] = []
    finished = threading.Event()

    def client() -> None:
        with requests.Session() as session:
            while not finished.is_set():
                response = session.post(f"{base}/v1/predict", json={"text": WARNING}, timeout=10)
                body = response.json()
                answers.append(
                    (
                        response.status_code,
                        body.get("model_version"),
                        response.headers.get("X-Model-Version"),
                    )
                )

    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for i in range(20):
            promote(model_dir, first if i % 2 == 0 else second)
            time.sleep(0.15)
    finally:
        finished.set()
        for thread in threads:
            thread.join(timeout=30)
        stop(process)
    assert len(answers) > 100
    assert {status for status, _, _ in answers} == {200}
    assert {version for _, version, _ in answers} == {first, second}
    assert all(body == header for _, body, header in answers)


@pytest.mark.slow
def test_training_is_reproducible(small_data, tmp_path):
    texts = pd.read_csv(TEST_DATA, dtype=str, keep_default_na=False)["text"].head(200).tolist()
    runs = []
    for name in ("one", "two"):
        version_dir, _ = train(small_data / "a.csv", TEST_DATA, tmp_path / name, search=False)
        runs.append(Predictor.load(version_dir).probabilities(texts))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_a_copied_model_directory_serves_the_same_answers(two_versions, tmp_path):
    model_dir, _, _ = two_versions
    shutil.copytree(model_dir, tmp_path / "copy")
    a = Predictor.load_current(model_dir).probabilities([WARNING])
    b = Predictor.load_current(tmp_path / "copy").probabilities([WARNING])
    np.testing.assert_array_equal(a, b)


def train_with_feedback(runner, data, db, model_dir):
    """Run `stance train --with-feedback` quickly (no search) through click's runner."""
    return runner.invoke(
        main,
        [
            "train",
            "--data",
            str(data),
            "--test",
            str(TEST_DATA),
            "--no-search",
            "--with-feedback",
            "--feedback-db",
            str(db),
            "--model-dir",
            str(model_dir),
        ],
    )


@pytest.mark.slow
def test_training_with_feedback_adds_the_corrections(small_data, tmp_path, runner):
    from model.feedback_store import FeedbackStore
    from training.data import load_corpus, read_feedback

    corpus = pd.read_csv(small_data / "a.csv", dtype=str, keep_default_na=False)
    corrected = corpus.iloc[0]
    new_label = "warning" if corrected["label"] != "warning" else "neutral"
    db = tmp_path / "feedback.sqlite3"
    with FeedbackStore(db) as store:
        store.add(corrected["text"], new_label, note="relabelled", model_version="v1")
        store.add("Moscow vowed an asymmetric answer to the deployment.", "warning")
    train_frame, _ = load_corpus(small_data / "a.csv", TEST_DATA, read_feedback(db))
    assert len(train_frame) == len(corpus) + 1  # one replaced, one added
    rows = train_frame[train_frame["text"] == corrected["text"]]
    assert rows["label"].tolist() == [new_label]

    model_dir = tmp_path / "artifacts"
    result = train_with_feedback(runner, small_data / "a.csv", db, model_dir)
    assert result.exit_code == 0, result.output
    assert "adding 2 correction(s)" in result.output
    metadata = json.loads((model_dir / current_version(model_dir) / "metadata.json").read_text())
    assert metadata["data"]["feedback_rows"] == 2
    assert metadata["data"]["train_rows"] == len(corpus) + 1


def test_feedback_that_leaks_the_test_set_is_refused(small_data, tmp_path, runner):
    from model.feedback_store import FeedbackStore

    held_out = pd.read_csv(TEST_DATA, dtype=str, keep_default_na=False).iloc[0]
    db = tmp_path / "feedback.sqlite3"
    with FeedbackStore(db) as store:
        store.add(held_out["text"], held_out["label"])
    result = train_with_feedback(runner, small_data / "a.csv", db, tmp_path / "m")
    assert result.exit_code == 2
    assert "the same statement in both files" in result.output


@pytest.mark.slow
def test_a_calibrated_model_predicts_and_explains(small_data, tmp_path):
    version_dir, metadata = train(
        small_data / "a.csv", TEST_DATA, tmp_path / "artifacts", search=False, calibrate=True
    )
    assert metadata["params"]["calibration"] == "sigmoid"
    predictor = Predictor.load(version_dir)
    assert predictor.model is not predictor.pipeline  # probabilities come from the wrapper
    [prediction] = predictor.predict([WARNING], explain=True)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    np.testing.assert_allclose(
        list(prediction.probabilities.values()), predictor.model.predict_proba([WARNING])[0]
    )
    explanation = prediction.explanation
    weights = sum(t.weight for t in (*explanation.toward, *explanation.against))
    assert explanation.intercept + weights == pytest.approx(explanation.logit, abs=1e-9)
