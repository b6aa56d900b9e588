"""Output folders checked before any work starts, for the commands that create the folder they
write to (`faceedge export --out`, `faceedge train --out`, a report whose folder does not exist yet).

Built on :func:`faceedge.paths.check_writable`, which checks a file whose folder exists. Standard
library only, as :mod:`faceedge.paths`.
"""

from __future__ import annotations

import os
from pathlib import Path

from faceedge.errors import OutputError
from faceedge.paths import check_writable


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
