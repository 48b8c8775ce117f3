"""How xsell's command-line entry points end: status 0 on success, 2 with one line for bad input, 1 on an
internal failure. A command that fails leaves no run folder holding only Hydra's own record of it
(:func:`remove_hydra_only_folder`).

Bad input is any xsell error (``XsellError``: data, schema, config, checkpoint, bundle, output folder), an
OmegaConf/Hydra config error, or a file that is not there; it is printed as one line
(``error: SchemaError: ...``) unless ``XSELL_DEBUG=1`` asks for the full traceback. Anything else is a bug
and propagates with its traceback (Python, or Hydra around a task function, exits with status 1;
``HYDRA_FULL_ERROR=1`` shows Hydra's unabridged traceback).

Under ``@hydra.main`` the wrapper goes *inside* the decorator: Hydra catches ``Exception`` from the task
function and exits 1 itself, but lets the ``SystemExit`` raised here through::

    @hydra.main(...)
    @run_cli
    def main(cfg): ...
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from xsell.errors import XsellError

BAD_INPUT_STATUS = 2
DEBUG_ENV = "XSELL_DEBUG"
BAD_INPUT = (XsellError, OmegaConfBaseException, FileNotFoundError)

F = TypeVar("F", bound=Callable[..., Any])


def bad_input(exc: BaseException) -> BaseException | None:
    """The bad-input error behind ``exc`` (itself, or a cause Hydra's ``instantiate`` wrapped), else None."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, BAD_INPUT):
            return exc
        if not isinstance(exc, HydraException):  # only unwrap Hydra's wrappers, never a bug's cause
            return None
        exc, seen = exc.__cause__, seen + 1
    return None


def one_line(exc: BaseException) -> str:
    """``error: TypeName: first line of the message``."""
    lines = str(exc).strip().splitlines()
    return f"error: {type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def hydra_files(output_subdir: str | None, job_name: str) -> set[str]:
    """The files Hydra writes into a run folder by itself: its record (``.hydra/config.yaml``, ``hydra.yaml``,
    ``overrides.yaml``) and the job's log."""
    record = {f"{output_subdir}/{name}" for name in ("config.yaml", "hydra.yaml", "overrides.yaml")}
    return {f"{job_name}.log", *(record if output_subdir else ())}


def remove_hydra_only_folder() -> list[Path]:
    """Under ``@hydra.main``, after a failure: delete the run folder when it holds nothing but Hydra's own
    files (:func:`hydra_files`), so a failed command leaves no folder with only a log; a folder holding
    anything else is left whole. Returns what was removed."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    hydra = HydraConfig.get()
    folder = Path(hydra.runtime.output_dir)
    own = hydra_files(hydra.output_subdir, hydra.job.name)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*")} if folder.is_dir() else set()
    subdirs = {str(hydra.output_subdir)} if hydra.output_subdir else set()
    if not present or not present <= own | subdirs:
        return []
    removed = []
    try:
        for name in sorted(present - subdirs):
            (folder / name).unlink()
            removed.append(folder / name)
        for path in [*(folder / name for name in subdirs if name in present), folder]:
            path.rmdir()  # only empty folders: never anything else
            removed.append(path)
    except OSError:  # e.g. a log still open on a system that cannot delete open files: keep the rest
        pass
    return removed


def run_cli(function: F) -> F:
    """Wrap an entry point's main function: bad input exits 2 with one line on stderr (full traceback when
    ``XSELL_DEBUG=1``); the return value and other exceptions pass through unchanged."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            remove_hydra_only_folder()
            cause = bad_input(exc)
            if cause is None:
                raise
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                traceback.print_exc()
            else:
                print(one_line(cause), file=sys.stderr)
            sys.exit(BAD_INPUT_STATUS)

    return wrapper  # type: ignore[return-value]
