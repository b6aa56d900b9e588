"""Output paths checked before any work starts: every command that writes a file calls these first.

Standard library only: the runtime and every stage import it.
"""

from __future__ import annotations

import os
from pathlib import Path

from faceedge.errors import OutputError


def check_writable(path: str | Path, what: str) -> Path:
    """Refuse, before any work, an output file that cannot be written; return it as a Path.

    The file is really opened for writing, since permission bits say nothing to root and nothing
    about ``/proc`` or a read-only mount: an existing file is opened for appending (its bytes are
    not touched), a new one is created and removed again.

    Raises:
        OutputError: ``path`` is a folder, its folder does not exist, or it cannot be written;
            the message names ``what`` the file was for.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write the {what} to {path}: it is a folder")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write the {what} to {path}: no folder {path.parent}")
    existed = path.exists()
    try:
        with open(path, "a" if existed else "x"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write the {what} to {path}: {exc.strerror or exc}") from exc
    if not existed:
        path.unlink(missing_ok=True)
    return path


def refuse_overwriting(output: str | Path, inputs: list[str | Path], what: str) -> None:
    """Refuse an output that is one of the ``inputs``, however either path is spelled (relative,
    ``..``, symbolic or hard links): writing it would destroy the input.

    Raises:
        OutputError: ``output`` is the same file as one of ``inputs``.
    """
    output = Path(output)
    for source in inputs:
        source = Path(source)
        if _same_file(output, source):
            raise OutputError(
                f"the {what} {output} is the input {source}: writing it would destroy the input"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # the same inode: links and every spelling of the path
    except OSError:  # one of them does not exist (yet): compare where they would be
        return a.resolve() == b.resolve()
