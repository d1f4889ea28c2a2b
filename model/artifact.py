"""Save and load model artifacts: a skops file beside a metadata JSON that vouches for it.

Layout under a model directory (default ``artifacts/``)::

    artifacts/
        CURRENT                  the version id the service loads
        <version>/model.skops    the pipeline, in a format that cannot run code when read
        <version>/scorer.npz     its numbers for the fast path (model/fast.py), plain arrays
        <version>/model.joblib   the same pipeline for your own notebooks; Stance never loads it
        <version>/metadata.json  versions, data hash, parameters, metrics, sha256 of each file

Scoring loads scorer.npz when the version has one (every plain TF-IDF + logistic regression
model does), without importing scikit-learn; model.skops is loaded only where the pipeline
itself is needed (a calibrated model, training, `Predictor.verify`).

A pickle (joblib's format) runs whatever code it names when it is loaded, and a checksum beside
it is no defence: whoever can replace the file can rewrite the checksum. skops.io rebuilds only
the types it is told to trust: scikit-learn's own, numpy's, and TRUSTED_TYPES, the one class of
ours that a model holds. Anything else is refused before any of it is built.
"""

import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from model.atomic import current_umask
from model.fast import FastScorer, Tables
from model.home import train_command

# scikit-learn, scipy, joblib and skops are imported where they are used: importing them costs
# seconds and most of a scoring run's memory, and the fast path needs none of them.

MODEL_FILE = "model.skops"
SCORER_FILE = "scorer.npz"
EXPORT_FILE = "model.joblib"
# The types a trained model holds beyond what skops trusts by default (scikit-learn,
# numpy, builtins). tests/model/test_artifact.py checks a fresh model needs no more.
TRUSTED_TYPES = (
    "model.features.Analyzer",
    # What a calibrated model (CALIBRATE in model/pipeline.py) adds around the pipeline.
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
)
METADATA_FILE = "metadata.json"
CURRENT_FILE = "CURRENT"


class ArtifactError(Exception):
    """A model artifact is missing, tampered with, or built by other library versions."""


def library_versions() -> dict[str, str]:
    """Return the versions that must match for an artifact to load safely."""
    import joblib
    import numpy
    import scipy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
        "skops": skops.__version__,
    }


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_artifact(pipeline: Any, metadata: dict[str, Any], model_dir: Path) -> Path:
    """Write pipeline and metadata as model_dir/<version>/, complete or not at all."""
    import joblib
    import skops.io

    version = metadata["version"]
    model_dir.mkdir(parents=True, exist_ok=True)
    final = model_dir / version
    if final.exists():
        raise ArtifactError(f"model version {version} already exists in {model_dir}")
    staging = Path(tempfile.mkdtemp(dir=model_dir, prefix=f".{version}."))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700
    try:
        skops.io.dump(pipeline, staging / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
        joblib.dump(pipeline, staging / EXPORT_FILE, compress=3)
        metadata = {
            **metadata,
            "sha256": sha256_of(staging / MODEL_FILE),
            "export_sha256": sha256_of(staging / EXPORT_FILE),
        }
        if FastScorer.unsupported(pipeline) is None:
            Tables.of(pipeline).save(staging / SCORER_FILE)
            metadata["scorer_sha256"] = sha256_of(staging / SCORER_FILE)
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def read_metadata(version_dir: Path) -> dict[str, Any]:
    """Return the metadata of one stored version."""
    path = version_dir / METADATA_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"no model metadata at {path}: run {train_command()}") from None
    except (ValueError, OSError) as error:
        raise ArtifactError(f"unreadable model metadata at {path}: {error}") from None


def _check(path: Path, expected: str | None) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ArtifactError(
            f"checksum mismatch for {path}: expected {expected}, found {actual}; the file was "
            "changed after training, refusing to load it"
        )


def installed_version(distribution: str) -> str:
    """The version of an installed distribution, as importlib.metadata.version gives it.

    Read from the METADATA of its .dist-info folder, the first on sys.path as importlib.metadata
    searches: importing importlib.metadata (the email package and more) was 30 ms of every
    start-up, most of loading a version's checks. Any other layout is left to it.
    """
    folder = re.sub(r"[-_.]+", "_", distribution).lower()  # as wheels name it
    for entry in sys.path:
        for found in sorted(Path(entry or ".").glob(f"{folder}-*.dist-info")):
            try:
                with open(found / "METADATA", encoding="utf-8") as handle:
                    for line in iter(handle.readline, "\n"):  # the headers end at a blank line
                        if not line:
                            break
                        if line.startswith("Version:"):
                            return line.removeprefix("Version:").strip()
            except OSError:
                pass
    import importlib.metadata

    return importlib.metadata.version(distribution)


def verified_metadata(version_dir: Path) -> dict[str, Any]:
    """Return a version's metadata once its files match it: checksums and scikit-learn's version.

    Checked on every load, whichever file is then read: a version with a tampered file is
    refused everywhere, not only where that file is read. Hashing both costs a few ms.
    """
    metadata = read_metadata(version_dir)
    built_with = metadata.get("versions", {}).get("scikit-learn")
    installed = installed_version("scikit-learn")  # without importing it: that is slow
    if built_with != installed:
        raise ArtifactError(
            f"model {version_dir.name} was built with scikit-learn {built_with}, this is "
            f"{installed}: retrain it with {train_command()}"
        )
    model_path = version_dir / MODEL_FILE
    if not model_path.is_file():
        if (version_dir / EXPORT_FILE).is_file():
            raise ArtifactError(
                f"model {version_dir.name} is stored only as a pickle ({EXPORT_FILE}), which "
                "Stance no longer loads because a pickle can run code: retrain it"
            )
        raise ArtifactError(f"no model file at {model_path}: run {train_command()}")
    _check(model_path, metadata.get("sha256"))
    if "scorer_sha256" in metadata:
        scorer_path = version_dir / SCORER_FILE
        if not scorer_path.is_file():
            raise ArtifactError(f"no scorer file at {scorer_path}, though its metadata lists one")
        _check(scorer_path, metadata["scorer_sha256"])
    return metadata


def load_artifact(version_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Verify the version, then rebuild its model (the pipeline) from trusted types only.

    Every way a load can fail (missing, tampered, truncated, untrusted types, not a model at
    all) raises ArtifactError, so callers keep what they had and say why.
    """
    metadata = verified_metadata(version_dir)
    return read_pipeline(version_dir), metadata


def read_pipeline(version_dir: Path) -> Any:
    """Rebuild a version's model from trusted types only; verified_metadata checks it first."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    model_path = version_dir / MODEL_FILE
    try:
        # Refuses, before building anything, a file naming a type outside the trusted ones.
        model = skops.io.load(model_path, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as error:
        raise ArtifactError(
            f"{model_path} holds types that training never writes ({error}): refusing to load it"
        ) from None
    except Exception as error:  # a truncated zip, a malformed schema, a missing class...
        raise ArtifactError(f"{model_path} is not a loadable model: {error}") from None
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise ArtifactError(f"{model_path} holds a {type(model).__name__}, not a fitted model")
    return model


def load_tables(version_dir: Path) -> tuple[Tables | None, dict[str, Any]]:
    """Verify the version, then read its fast-path tables; None when it has none.

    A version has none when its model is not a plain pipeline (calibrated) or when it was
    trained before the tables were stored: the caller then loads the pipeline itself.
    """
    metadata = verified_metadata(version_dir)
    if "scorer_sha256" not in metadata:
        return None, metadata
    path = version_dir / SCORER_FILE
    try:
        return Tables.load(path), metadata
    except Exception as error:  # a truncated zip, a missing array, a pickle, a wrong shape...
        raise ArtifactError(f"{path} is not a loadable scorer: {error}") from None


def current_version(model_dir: Path) -> str:
    """Return the version id that CURRENT points to."""
    try:
        version = (model_dir / CURRENT_FILE).read_text().strip()
    except FileNotFoundError:
        raise ArtifactError(f"no trained model in {model_dir}: run {train_command()}") from None
    if not version or "/" in version or version.startswith("."):
        raise ArtifactError(f"{model_dir / CURRENT_FILE} does not name a version")
    return version


def current_version_or_none(model_dir: Path) -> str | None:
    """Return the version CURRENT names, or None when there is no usable pointer."""
    try:
        return current_version(model_dir)
    except ArtifactError:
        return None
