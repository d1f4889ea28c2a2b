"""The code stays ruff clean: the suite fails on a lint error, so CI does too."""

import subprocess

from ..helpers import BIN, ROOT


def test_ruff_check_is_clean():
    completed = subprocess.run(
        [BIN / "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
