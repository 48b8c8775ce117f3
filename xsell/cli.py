"""How xsell's command-line entry points end: status 0 on success, 2 with one line for bad input, 1 on an
internal failure.

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


def run_cli(function: F) -> F:
    """Wrap an entry point's main function: bad input exits 2 with one line on stderr (full traceback when
    ``XSELL_DEBUG=1``); the return value and other exceptions pass through unchanged."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            cause = bad_input(exc)
            if cause is None:
                raise
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                traceback.print_exc()
            else:
                print(one_line(cause), file=sys.stderr)
            sys.exit(BAD_INPUT_STATUS)

    return wrapper  # type: ignore[return-value]
