"""The import contracts in pyproject.toml hold: model <- training <- service, never back."""

import subprocess

from ..helpers import BIN, ROOT


def test_imports_point_one_way():
    lint_imports = BIN / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
