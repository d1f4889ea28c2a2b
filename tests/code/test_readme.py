"""Every README example runs as written, in a copy of the checkout with a trained model.

Which blocks run: ```console blocks (each `$ ` line a command, continued by a trailing `\\`;
the lines after it are the output shown, not compared) and ```python blocks (doctests, sharing
one namespace in the README's order). A block that cannot run says why on the line before it:
`<!-- not run: reason -->`. The `curl` lines reach a real gunicorn this test starts: the
README's `localhost:8000` is the one thing rewritten, to that server's address.
"""

import doctest
import io
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..helpers import BIN, ROOT, start_gunicorn, stop

README = ROOT / "README.md"
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->\s*$")
RUNNABLE = ("console", "python")
README_SERVER = "localhost:8000"
# What a copy of the checkout needs: the Makefile's targets depend on the code, the data and
# what .venv is built from.
COPIED = (
    "README.md",
    "Makefile",
    "pyproject.toml",
    "setup.py",
    "data",
    "model",
    "training",
    "service",
)


@dataclass(frozen=True)
class Block:
    kind: str
    body: str
    line: int
    not_run: str | None  # the reason given, when the README says it cannot run

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.kind}"


def blocks(text: str) -> list[Block]:
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.search(before)
        found.append(
            Block(
                kind=match["info"].strip(),
                body=match["body"],
                line=text.count("\n", 0, match.start()) + 1,
                not_run=reason["reason"] if reason else None,
            )
        )
    return found


def commands(body: str) -> list[str]:
    """Return the `$ ` commands of a console block, with their continuation lines.

    A command goes on while a line ends with `\\` or a quote is still open, as in bash.
    """
    found: list[str] = []
    current: list[str] | None = None
    for line in body.splitlines():
        if current is None and line.startswith("$ "):
            current = [line[2:]]
        elif current is not None:
            current.append(line)
        if current is not None and not line.endswith("\\") and complete("\n".join(current)):
            found.append("\n".join(current))
            current = None
    if current is not None:  # never closed: bash will say so
        found.append("\n".join(current))
    return found


def complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:  # "No closing quotation"
        return False
    return True


EXAMPLES = [block for block in blocks(README.read_text()) if block.kind in RUNNABLE]


def test_the_readme_has_examples_of_each_kind():
    kinds = {block.kind for block in EXAMPLES if block.not_run is None}
    assert kinds == set(RUNNABLE)
    assert all(commands(block.body) for block in EXAMPLES if block.kind == "console")


def test_every_command_or_session_shown_is_a_checked_example():
    """A block that shows `$ ` commands or `>>> ` sessions is console or python: it runs."""
    for block in blocks(README.read_text()):
        first = block.body.lstrip().split("\n", 1)[0]
        if first.startswith(("$ ", ">>> ")):
            assert block.kind in RUNNABLE, f"{block.id}: tag it ```console or ```python"


@pytest.fixture(scope="module")
def checkout(model_dir, tmp_path_factory) -> Path:
    """A copy of the checkout, its .venv this one's, with the session's model as current."""
    folder = tmp_path_factory.mktemp("checkout")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "drafts")
            shutil.copytree(source, folder / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(source, folder / name)
    (folder / ".venv").mkdir()
    (folder / ".venv" / "bin").symlink_to(BIN)
    shutil.copytree(model_dir, folder / "artifacts")
    # Newer than pyproject.toml, the data and the code: make neither reinstalls nor retrains.
    for made in (folder / ".venv" / ".installed", folder / "artifacts" / "CURRENT"):
        made.touch()
    (folder / "home").mkdir()
    # curl exits 0 on an HTTP error unless told: the examples' curl must get real answers.
    (folder / "home" / ".curlrc").write_text("fail\n")
    return folder


@pytest.fixture(scope="module")
def server(checkout):
    """Start a real gunicorn on the copy's model the first time a command needs one."""
    started: list = []

    def address() -> str:
        if not started:
            log_folder = checkout / "server"
            log_folder.mkdir()
            started.append(start_gunicorn(checkout / "artifacts", log_folder, workers=1))
        return started[0][1].removeprefix("http://")

    yield address
    for process, _ in started:
        stop(process)


@pytest.fixture(scope="module")
def namespace() -> dict:
    """The python blocks' one namespace, and which blocks have run in it."""
    return {"__name__": "readme", "_ran": set()}


def run_console(block: Block, checkout: Path, server) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STANCE_", "XDG_")) and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        PATH=f"{checkout / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(checkout),  # the copy's code, whatever the venv was installed from
        HOME=str(checkout / "home"),  # nothing reaches the real per-user folder
    )
    for command in commands(block.body):
        if README_SERVER in command:
            command = command.replace(README_SERVER, server())
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (
            f"{block.id}: `{command}` exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )


def run_python(block: Block, namespace: dict, checkout: Path, monkeypatch) -> None:
    monkeypatch.chdir(checkout)
    for name in list(os.environ):
        if name.startswith("STANCE_"):
            monkeypatch.delenv(name)
    # The blocks build on each other: run the earlier ones first when run alone (-k).
    for earlier in EXAMPLES:
        due = earlier.kind == "python" and earlier.not_run is None
        if due and earlier.id not in namespace["_ran"]:
            test = doctest.DocTestParser().get_doctest(
                earlier.body, namespace, earlier.id, str(README), earlier.line
            )
            runner = doctest.DocTestRunner(
                optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
            )
            report = io.StringIO()
            runner.run(test, out=report.write, clear_globs=False)
            namespace.update(test.globs)  # a DocTest runs in a copy of the globals given
            namespace["_ran"].add(earlier.id)
            assert runner.failures == 0, report.getvalue()
        if earlier == block:
            return


@pytest.mark.slow
@pytest.mark.parametrize("block", EXAMPLES, ids=lambda block: block.id)
def test_readme_example_runs(block, checkout, server, namespace, monkeypatch):
    if block.not_run is not None:
        pytest.skip(f"the README says: {block.not_run}")
    if block.kind == "console":
        run_console(block, checkout, server)
    else:
        run_python(block, namespace, checkout, monkeypatch)
