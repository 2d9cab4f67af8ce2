"""Files and folders that appear whole or not at all: written under a temporary name, renamed when complete.

Every writer in the project goes through :func:`atomic_path` (or :func:`write_json_atomic`), so a
kill, a full disk or an exception mid-write leaves the previous version (or nothing) in place and
never half a file. The rename is ``os.replace`` on the same folder, atomic on POSIX file systems.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from restoration.errors import OutputExistsError


def partial_path(path: Path, unique: bool = False, keep_suffix: bool = False) -> Path:
    """The temporary sibling :func:`atomic_path` writes: ``.<name>.partial`` (hidden, never a finished name).

    ``unique`` adds a random token, for files several writers may write at once; without it the
    name is fixed, so the next run removes what a killed one left. ``keep_suffix`` repeats the
    extension at the end (``.<name>.partial.png``) for writers that choose the format from it.
    """
    token = f".{uuid.uuid4().hex[:8]}" if unique else ""
    return path.with_name(f".{path.name}{token}.partial{path.suffix if keep_suffix else ''}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(
    path: str | Path,
    replace: bool = True,
    unique: bool = False,
    keep_suffix: bool = False,
    on_complete: Callable[[Path], object] | None = None,
) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write (a file or a folder); rename it onto ``path`` if the block succeeds.

    An existing ``path`` is refused (:class:`OutputExistsError`) unless ``replace``; then it is
    swapped: readers see the old version or the new one. A folder replacing a folder is swapped
    through a second rename (the old one set aside, then removed). ``on_complete(tmp)`` runs on the
    finished temporary just before the rename: a done mark written there never names a file that
    is not complete. ``unique`` and ``keep_suffix``: as for :func:`partial_path`. On any error the
    temporary is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if path.exists() and not replace:
        raise OutputExistsError(f"{path}: output already exists; remove it or choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path, unique, keep_suffix)
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: the writer made no file")
        if on_complete:
            on_complete(tmp)
        if tmp.is_dir() and path.is_dir():
            old = partial_path(path, unique=True).with_suffix(".old")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        _remove(tmp)


def write_json_atomic(path: str | Path, data: dict, mode: int | None = None) -> None:
    """Write ``data`` as JSON (indented, non-JSON values as ``str``) to ``path``, whole or not at all.

    Safe with several writers at once (each has its own temporary). ``mode`` (e.g. ``0o600``) is set
    when the temporary is created, so the file is never readable by others, even briefly.
    """
    with atomic_path(path, unique=True) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, default=str)
