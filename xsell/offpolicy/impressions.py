"""An impression log as a table: what a shop showed, with which logging probability, and what it earned.

One row per impression (one offer shown in one slot). The column names follow the Open Bandit Pipeline's
logged-bandit-feedback dict, so :meth:`ImpressionLog.to_obp_dict` is a plain rename-free export:

- ``action`` (Int64, required): index of the shown action in ``[0, n_actions)`` (an item of the shop's
  action space, or "show nothing" if the shop logs that as an action);
- ``reward`` (Float64 or Boolean, required): what the impression earned (click, conversion, revenue);
- ``pscore`` (Float64, required): the logging policy's probability of showing this action in this position,
  in ``(0, 1]``;
- ``position`` (Int64, optional, default 0): the slot, 0 = first;
- ``context_*`` (numeric, optional): context features, stacked in column order into obp's ``context``;
- ``session_id``, ``user_id``, ``item_id`` (the shown item's id, null for "show nothing"), ``timestamp``
  (optional, carried along);
- ``history`` (List[String], optional): the customer's item ids before the impression, oldest first; what
  an xsell scorer reads to act as the target policy (:mod:`xsell.offpolicy.targets`). In CSV files it is
  one string of item ids separated by spaces.

Every way in (the constructor, :func:`read_impressions`) checks the schema and raises ``SchemaError`` /
``EmptyDataError`` naming the file, the column and how many rows are wrong; writes are atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from xsell.atomic import atomic_file
from xsell.errors import EmptyDataError, FormatError, SchemaError

ACTION = "action"
REWARD = "reward"
PSCORE = "pscore"
POSITION = "position"
HISTORY = "history"
CONTEXT_PREFIX = "context_"
REQUIRED = (ACTION, REWARD, PSCORE)
HISTORY_SEPARATOR = " "  # between item ids of a history in CSV files
FORMATS = (".parquet", ".csv")


@dataclass(frozen=True, eq=False)
class ImpressionLog:
    """A checked impression table (see the module docstring for its columns).

    Args:
        frame: the rows; checked and normalised on construction (``position`` added as 0 when absent).
        n_actions: size of the action space; default ``max(action) + 1``.
        action_context: optional ``[n_actions, d]`` features of each action (obp's ``action_context``).
        source: where the rows came from, named in errors.
    """

    frame: pl.DataFrame
    n_actions: int | None = None
    action_context: np.ndarray | None = None
    source: str = "impression log"

    def __post_init__(self) -> None:
        frame = _checked(self.frame, self.source)
        top = int(frame.get_column(ACTION).max())
        n_actions = top + 1 if self.n_actions is None else int(self.n_actions)
        if top >= n_actions:
            rows = int((frame.get_column(ACTION) >= n_actions).sum())
            raise SchemaError(f"action must lie in [0, {n_actions}) (n_actions={n_actions})",
                              source=self.source, column=ACTION, rows=rows)
        if self.action_context is not None and np.shape(self.action_context)[0] != n_actions:
            raise SchemaError(f"action_context has {np.shape(self.action_context)[0]} rows for {n_actions} actions",
                              source=self.source)
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "n_actions", n_actions)

    def __len__(self) -> int:
        return self.frame.height

    def _array(self, column: str) -> np.ndarray:
        return self.frame.get_column(column).to_numpy()

    @property
    def action(self) -> np.ndarray:
        """``[n]`` int64 shown action."""
        return self._array(ACTION)

    @property
    def reward(self) -> np.ndarray:
        """``[n]`` float64 observed reward."""
        return self._array(REWARD)

    @property
    def pscore(self) -> np.ndarray:
        """``[n]`` float64 logging probability of the shown action in its position."""
        return self._array(PSCORE)

    @property
    def position(self) -> np.ndarray:
        """``[n]`` int64 slot (0 = first)."""
        return self._array(POSITION)

    @property
    def context_columns(self) -> list[str]:
        """The ``context_*`` columns, in table order."""
        return [c for c in self.frame.columns if c.startswith(CONTEXT_PREFIX)]

    @property
    def context(self) -> np.ndarray:
        """``[n, c]`` float64 context features (``c = 0`` without ``context_*`` columns)."""
        columns = self.context_columns
        if not columns:
            return np.zeros((len(self), 0))
        return self.frame.select(columns).to_numpy().astype(np.float64)

    def history_column(self) -> pl.Series:
        """The ``history`` column (``SchemaError`` naming the source when the log has none)."""
        if HISTORY not in self.frame.columns:
            raise SchemaError("the target policy reads histories; the log has no history column",
                              source=self.source, column=HISTORY)
        return self.frame.get_column(HISTORY)

    def histories(self) -> list[list[str]]:
        """Each row's history of item ids, oldest first."""
        return [list(h) if h is not None else [] for h in self.history_column().to_list()]

    def to_obp_dict(self) -> dict[str, Any]:
        """The Open Bandit Pipeline's logged-bandit-feedback dict: ``n_rounds``, ``n_actions``, ``action``,
        ``position``, ``reward``, ``pscore``, ``context`` (``[n, c]``) and ``action_context`` when known."""
        feedback = {"n_rounds": len(self), "n_actions": self.n_actions, "action": self.action,
                    "position": self.position, "reward": self.reward, "pscore": self.pscore,
                    "context": self.context}
        if self.action_context is not None:
            feedback["action_context"] = np.asarray(self.action_context, dtype=np.float64)
        return feedback

    def write(self, path: str | Path) -> Path:
        """Write the table to ``.parquet`` or ``.csv`` (by suffix) atomically; returns the path."""
        path = Path(path)
        suffix = _format(path)
        with atomic_file(path) as tmp:
            if suffix == ".parquet":
                self.frame.write_parquet(tmp)
            else:
                _to_csv(self.frame, str(path)).write_csv(tmp)
        return path


def read_impressions(path: str | Path, *, n_actions: int | None = None,
                     action_context: np.ndarray | None = None) -> ImpressionLog:
    """Read and check an impression log from ``.parquet`` or ``.csv`` (see :class:`ImpressionLog`)."""
    path = Path(path)
    suffix = _format(path)
    try:
        frame = (pl.scan_parquet(path) if suffix == ".parquet" else pl.scan_csv(path)).collect()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise FormatError(f"cannot read the impression log: {exc}", source=str(path)) from exc
    if suffix == ".csv" and HISTORY in frame.columns:
        frame = frame.with_columns(pl.col(HISTORY).cast(pl.String).str.split(HISTORY_SEPARATOR)
                                   .list.eval(pl.element().filter(pl.element() != "")))
    return ImpressionLog(frame, n_actions=n_actions, action_context=action_context, source=str(path))


def _format(path: Path) -> str:
    if path.suffix not in FORMATS:
        raise FormatError(f"impression logs are {' or '.join(FORMATS)} files, got {path.suffix!r}", source=str(path))
    return path.suffix


def _to_csv(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """The frame with ``history`` joined into one string (CSV has no list columns)."""
    if HISTORY not in frame.columns:
        return frame
    spaced = int(frame.select(pl.col(HISTORY).list.eval(pl.element().str.contains(HISTORY_SEPARATOR, literal=True))
                              .list.any().fill_null(False).sum()).item())
    if spaced:
        raise SchemaError("item ids with spaces cannot be written to a CSV history; write parquet instead",
                          source=source, column=HISTORY, rows=spaced)
    return frame.with_columns(pl.col(HISTORY).list.join(HISTORY_SEPARATOR))


def _checked(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """The frame with the bandit columns cast to their dtypes, or ``SchemaError`` naming the first problem."""
    if frame.height == 0:
        raise EmptyDataError("the impression log has no rows", source=source)
    for column in REQUIRED:
        if column not in frame.columns:
            raise SchemaError(f"missing column (required: {', '.join(REQUIRED)})", source=source, column=column)
    if POSITION not in frame.columns:
        frame = frame.with_columns(pl.lit(0, dtype=pl.Int64).alias(POSITION))
    if frame.schema[REWARD] == pl.Boolean:  # clicked / bought
        frame = frame.with_columns(pl.col(REWARD).cast(pl.Float64))
    numeric = [*REQUIRED, POSITION, *(c for c in frame.columns if c.startswith(CONTEXT_PREFIX))]
    for column in numeric:
        dtype = frame.schema[column]
        if not dtype.is_numeric():
            raise SchemaError(f"must be numeric, got {dtype}", source=source, column=column, rows=frame.height)
        nulls = frame.get_column(column).null_count()
        if nulls:
            raise SchemaError("null values", source=source, column=column, rows=nulls)
    for column in (ACTION, POSITION):
        values = frame.get_column(column)
        fractional = int((values.cast(pl.Float64) != values.cast(pl.Float64).round()).sum())
        if fractional:
            raise SchemaError("must hold whole numbers", source=source, column=column, rows=fractional)
    frame = frame.with_columns(pl.col(ACTION, POSITION).cast(pl.Int64), pl.col(REWARD, PSCORE).cast(pl.Float64))
    checks = (
        (ACTION, pl.col(ACTION) < 0, "action must be >= 0"),
        (POSITION, pl.col(POSITION) < 0, "position must be >= 0"),
        (PSCORE, ~((pl.col(PSCORE) > 0) & (pl.col(PSCORE) <= 1)), "pscore (logging propensity) must lie in (0, 1]"),
        (REWARD, ~pl.col(REWARD).is_finite(), "reward must be finite"),
    )
    counts = frame.select(bad.sum().alias(column) for column, bad, _ in checks).row(0)
    for (column, _, message), rows in zip(checks, counts, strict=True):
        if rows:
            raise SchemaError(message, source=source, column=column, rows=int(rows))
    if HISTORY in frame.columns and frame.schema[HISTORY] != pl.List(pl.String):
        raise SchemaError(f"history must be a list of item-id strings, got {frame.schema[HISTORY]}",
                          source=source, column=HISTORY, rows=frame.height)
    return frame
