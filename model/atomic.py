"""Write a file so that readers see the old content or the whole new one, never half of it.

Every file Stance writes for others to read goes through here: model versions and CURRENT,
reports, scored files, timelines, feedback exports.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def current_umask() -> int:
    """Return the process umask (reading it means setting it, so it is set straight back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_mode() -> int:
    """Return the mode a new file gets under the umask: mkstemp alone would make it 0600."""
    return 0o666 & ~current_umask()


@contextmanager
def atomic_file(
    path: Path, suffix: str = ".tmp", newline: str | None = None, binary: bool = False
) -> Iterator[TextIO]:
    """Yield a text handle whose content replaces path only if the block completes.

    It writes a hidden temp file in the same folder (so the rename is atomic) and removes it on
    any failure or interruption: readers see the old file or the whole new one, never half.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.chmod(tmp, file_mode())
    try:
        opened = (
            os.fdopen(fd, "wb")  # a PNG, say
            if binary
            else os.fdopen(fd, "w", encoding="utf-8", newline=newline)
        )
        with opened as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, text: str) -> None:
    """Replace path with text so that readers see the old or the new content, never half."""
    with atomic_file(path) as handle:
        handle.write(text)
