"""Writes that never leave a half-written file: a temp file in the same folder, then an atomic rename.

A folder of files (a serving bundle) is built the same way: in a temp folder beside the target, renamed
into place only when complete. A process killed mid-write leaves its ``.NAME.*.tmp`` folder behind; the next
write to the same target removes it (those names are only ever made here).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xsell.errors import OutputError


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temp file path beside ``path`` for a writer (``frame.write_parquet(tmp)``); when the block
    succeeds it is renamed to ``path``, on any failure removed and ``path`` left untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; on any failure the temp file is removed and ``path`` untouched."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | Path, payload: Any, *, indent: int | None = 2) -> Path:
    """``json.dumps(payload)`` written with :func:`write_text_atomic`."""
    return write_text_atomic(path, json.dumps(payload, indent=indent))


@contextmanager
def atomic_directory(path: str | Path, *, overwrite: bool = False,
                     owned: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield an empty temp folder beside ``path``; when the block succeeds it is renamed to ``path``.

    On any failure the temp folder is removed and ``path`` is untouched. An existing ``path`` raises
    ``OutputError`` (a ``FileExistsError``) unless ``overwrite``: then it is swapped out by rename and deleted
    afterwards, so ``path`` is always either the old complete folder or the new one (absent for an instant in
    between). With ``owned``, ``overwrite`` replaces only an empty folder or one for which ``owned(path)``
    holds; any other is refused with ``OutputError``, so nothing that xsell did not write is deleted.
    Leftover temp folders of earlier, killed writes to ``path`` are removed first.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists (pass overwrite=True to replace it)")
    if path.exists() and owned is not None and not (path.is_dir() and not any(path.iterdir())) and not owned(path):
        raise OutputError(f"{path} is not empty and not written by xsell: refusing to replace it even with "
                          "overwrite=true (choose a new or empty folder)")
    remove_leftovers(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:  # put the old folder back
                os.replace(old / path.name, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_leftovers(path: str | Path) -> list[Path]:
    """Remove the ``.NAME.*.tmp`` / ``.NAME.*.old`` folders that :func:`atomic_directory` left beside ``path``
    when its process was killed; returns what was removed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = [leftover for pattern in (f".{path.name}.*.tmp", f".{path.name}.*.old")
               for leftover in path.parent.glob(pattern) if leftover.is_dir() and not leftover.is_symlink()]
    for leftover in removed:
        shutil.rmtree(leftover, ignore_errors=True)
    return removed
