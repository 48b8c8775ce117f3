"""The exceptions xsell raises on bad input: one type per family, each naming where the problem is."""

from __future__ import annotations


class XsellError(Exception):
    """Base class of every error xsell raises on purpose."""


class DataError(XsellError, ValueError):
    """Bad input data: the message names the file (or source), the column and how many rows are affected.

    Args:
        message: what is wrong, in words.
        source: the file or data set the rows came from.
        column: the offending column, when there is one.
        rows: how many rows are affected, when known.
    """

    def __init__(
        self, message: str, *, source: str | None = None, column: str | None = None, rows: int | None = None
    ) -> None:
        self.source = source
        self.column = column
        self.rows = rows
        parts = [message]
        if source is not None:
            parts.append(f"source={source}")
        if column is not None:
            parts.append(f"column={column!r}")
        if rows is not None:
            parts.append(f"rows={rows}")
        super().__init__(" | ".join(parts))


class SchemaError(DataError):
    """A column is missing, has the wrong type, or holds nulls where none are allowed."""


class FormatError(DataError):
    """A file is not in the format it was claimed to be in."""


class EmptyDataError(DataError):
    """No rows are left (after reading or after filtering)."""


class ConfigError(XsellError, ValueError):
    """A config value has the wrong type or lies outside its range; the message names the key, the value
    and what is allowed."""


class OutputError(XsellError, FileExistsError):
    """An output folder may not be written: it exists and is not xsell's to replace, or another run
    already owns it."""


class CheckpointError(XsellError, ValueError):
    """A checkpoint is missing, corrupted, or does not match the model or data it is loaded for."""


class BundleError(CheckpointError):
    """A serving bundle is missing, partial, tampered with (a checksum differs) or from an unsupported
    version; the message names the file."""


class UnknownItemWarning(UserWarning):
    """Item ids a model or bundle never saw in training: read as the unknown item, so a history without a
    known item gets the training popularity prior. ``warnings.simplefilter("error", UnknownItemWarning)``
    turns it into a failure (e.g. ids from another catalog)."""
