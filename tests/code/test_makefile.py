"""The Makefile's install paths: .venv built once under a lock, Chromium for the browser tests."""

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

from ..helpers import ROOT

# Stands in for python3: `-m venv DIR` makes a DIR/bin/pip that logs each call and takes a while,
# so two installs that are not serialised overlap in the log, and a DIR/bin/python that logs
# compiling the project's bytecode.
FAKE_PYTHON = textwrap.dedent(
    """\
    #!/usr/bin/env bash
    set -e
    [ "$1 $2" = "-m venv" ] || exit 3
    mkdir -p "$3/bin"
    cat > "$3/bin/pip" <<'PIP'
    #!/usr/bin/env bash
    echo "start $PPID" >> "$INSTALL_LOG"
    sleep 1
    echo "end $PPID" >> "$INSTALL_LOG"
    PIP
    chmod +x "$3/bin/pip"
    cat > "$3/bin/python" <<'PY'
    #!/usr/bin/env bash
    [ "$1 $2" = "-m compileall" ] || exit 3
    echo "compile $PPID" >> "$INSTALL_LOG"
    PY
    chmod +x "$3/bin/python"
    """
)


def test_two_installs_at_once_build_the_venv_once(tmp_path):
    for name in ("Makefile", "pyproject.toml", "setup.py", "model/_kernel.c", "service/_records.c"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    python = tmp_path / "fake-python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    log = tmp_path / "install.log"
    env = {"PATH": "/usr/bin:/bin", "INSTALL_LOG": str(log)}
    makes = [
        subprocess.Popen(
            ["make", "install", f"PYTHON={python}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [make.communicate(timeout=60)[0] for make in makes]
    assert [make.returncode for make in makes] == [0, 0], outputs
    # One install (pip upgraded, then Stance installed), its calls one after the other; then
    # the bytecode compiled (by either make, or both: compileall writes each file atomically).
    steps = [line.split()[0] for line in log.read_text().splitlines()]
    assert steps[:4] == ["start", "end", "start", "end"]
    assert steps[4:] in (["compile"], ["compile", "compile"])
    assert sum(".venv was built meanwhile" in output for output in outputs) == 1
    assert (tmp_path / ".venv" / ".installed").exists()
    # Once built, a third install has nothing to do.
    again = subprocess.run(
        ["make", "install", f"PYTHON={python}"], cwd=tmp_path, env=env, capture_output=True
    )
    assert again.returncode == 0 and b"Nothing to be done" in again.stdout


def test_ci_only_calls_make_test():
    commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert commands == ["make test"]


def test_make_test_installs_chromium_when_missing_and_root(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    apt_get = fake / "apt-get"
    apt_get.write_text('#!/usr/bin/env bash\necho "$@" >> "$APT_LOG"\n')
    apt_get.chmod(0o755)
    log = tmp_path / "apt.log"
    env = {"PATH": f"{fake}:/usr/bin:/bin", "APT_LOG": str(log)}

    def browser(chromium: Path) -> None:
        done = subprocess.run(
            ["make", "browser", f"CHROMIUM={chromium}"], cwd=tmp_path, env=env, capture_output=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

    present = tmp_path / "chromium"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    browser(present)
    assert not log.exists()  # there already: nothing to install
    browser(tmp_path / "missing")
    if os.geteuid() == 0:
        assert log.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
    else:  # only root installs; the browser tests then skip (or fail under CI=1)
        assert not log.exists()
