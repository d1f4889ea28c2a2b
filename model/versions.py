"""Model versions under one directory: list, promote, roll back, prune.

CURRENT names the version the service loads; HISTORY lists every version made current, oldest
first, so that a rollback returns to the one before. Both are replaced atomically, and only
after the version they name has loaded and verified.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.artifact import METADATA_FILE, ArtifactError, current_version_or_none, read_metadata
from model.atomic import write_atomically
from model.predict import Predictor

HISTORY_FILE = "HISTORY"
DEFAULT_KEEP = 5


@dataclass(frozen=True)
class VersionInfo:
    """One stored version and how it scored."""

    version: str
    trained_at: str
    cv_macro_f1: float | None
    held_out_macro_f1: float | None
    current: bool

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def history(model_dir: Path) -> list[str]:
    """Return the versions made current, oldest first."""
    try:
        return (model_dir / HISTORY_FILE).read_text().split()
    except FileNotFoundError:
        return []


def list_versions(model_dir: Path) -> list[VersionInfo]:
    """Return every stored version, newest first."""
    current = current_version_or_none(model_dir)
    found = []
    for folder in sorted(model_dir.glob(f"*/{METADATA_FILE}"), reverse=True):
        if folder.parent.name.startswith("."):
            continue  # a version still being written
        try:
            metadata = read_metadata(folder.parent)
        except ArtifactError:
            continue
        metrics = metadata.get("metrics", {})
        found.append(
            VersionInfo(
                version=folder.parent.name,
                trained_at=metadata.get("trained_at", ""),
                cv_macro_f1=metrics.get("cross_validated", {}).get("macro_f1_mean"),
                held_out_macro_f1=metrics.get("held_out", {}).get("macro_f1"),
                current=folder.parent.name == current,
            )
        )
    return found


def compared_with(model_dir: Path, version: str) -> Predictor | None:
    """Return the version a report on `version` compares it with, or None if none loads.

    That is the current version, the one a new version would replace; for the current version
    itself, the one it replaced (the last other one in HISTORY). Training and `stance evaluate`
    both ask here.
    """
    current = current_version_or_none(model_dir)
    if current is not None and current != version:
        other = current
    else:
        earlier = [v for v in history(model_dir) if v != version]
        if not earlier:
            return None
        other = earlier[-1]
    try:
        return Predictor.load(model_dir / other)
    except ArtifactError:
        return None  # broken, or pruned: nothing to compare with


def promote(model_dir: Path, version: str) -> None:
    """Make version current, after checking it loads; record it in HISTORY."""
    if not (model_dir / version).is_dir() or "/" in version or version.startswith("."):
        raise ArtifactError(f"no model version {version!r} in {model_dir}")
    # Refuse a broken or tampered version before switching: its pipeline too, not just its tables.
    Predictor.load(model_dir / version).verify()
    past = history(model_dir)
    if not past or past[-1] != version:
        write_atomically(model_dir / HISTORY_FILE, "\n".join([*past, version]) + "\n")
    write_atomically(model_dir / "CURRENT", version + "\n")


def rollback(model_dir: Path) -> str:
    """Make the version that was current before this one current again; return it."""
    past = history(model_dir)
    current = current_version_or_none(model_dir)
    while past and past[-1] == current:
        past.pop()
    if not past:
        raise ArtifactError(f"nothing to roll back to: {model_dir} has no earlier version")
    previous = past[-1]
    Predictor.load(model_dir / previous).verify()
    write_atomically(model_dir / HISTORY_FILE, "\n".join(past) + "\n")
    write_atomically(model_dir / "CURRENT", previous + "\n")
    return previous


def prune(model_dir: Path, keep: int = DEFAULT_KEEP) -> list[str]:
    """Delete all but the newest `keep` versions, never the current or the rollback target."""
    versions = [info.version for info in list_versions(model_dir)]
    past = history(model_dir)
    protected = {current_version_or_none(model_dir), *past[-2:]}
    removed = [v for v in versions[keep:] if v not in protected]
    for version in removed:
        shutil.rmtree(model_dir / version)
    return removed
