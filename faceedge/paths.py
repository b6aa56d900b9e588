"""Output paths checked before any work starts: every command that writes a file or a folder calls
these first. :func:`check_writable` wants the file's folder to exist already (a video beside its
run); :func:`check_output_file` and :func:`check_folder_writable` are for outputs whose folders are
created on writing (`faceedge export --out`, `faceedge train --out`, an evaluation report).

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


def check_folder_writable(folder: str | Path, what: str) -> Path:
    """Refuse, before any work, an output folder that cannot be created or written in; return it.

    The nearest folder that exists (``folder`` itself, or the one it would be created in) must be a
    folder and really take a new file; nothing is created, nothing is left behind.

    Raises:
        OutputError: ``folder``, or a path on the way to it, is a file; or the folder that exists
            cannot be written (read-only, no permission, ``/proc``). The message names ``what``.
    """
    folder = Path(folder)
    problem = _folder_problem(folder)
    if problem is not None:
        raise OutputError(f"cannot write the {what} to {folder}: {problem}")
    return folder


def check_output_file(path: str | Path, what: str) -> Path:
    """Refuse, before any work, an output file that cannot be written where its folder is created
    on writing if missing (as the evaluation report's and the plots' are); return it.

    Raises:
        OutputError: the file, or the folder it would be created in, cannot be written.
    """
    path = Path(path)
    if path.parent.is_dir():
        return check_writable(path, what)
    problem = _folder_problem(path.parent)
    if problem is not None:
        raise OutputError(f"cannot write the {what} to {path}: {problem}")
    return path


def _folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be created or written in, or None when it can."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        check_writable(existing / f".faceedge-write-check-{os.getpid()}", "probe")
    except OutputError as exc:
        return getattr(exc.__cause__, "strerror", None) or f"{existing} cannot be written"
    return None
