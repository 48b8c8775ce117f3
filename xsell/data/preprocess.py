"""Cleaning steps on an event log: dedupe, iterative k-core, sessionisation and chronological positions.

Each step takes and returns a polars frame (lazy in, lazy out where possible) so that steps compose into
one plan; the only collects are the ones that k-core needs to know it has converged.
"""

from __future__ import annotations

import polars as pl

from xsell.data.schema import EVENT, ITEM, SESSION, TIMESTAMP, USER
from xsell.errors import EmptyDataError

POSITION = "position"  # 0-based chronological rank of an event within its user's history


def dedupe(events: pl.LazyFrame, subset: list[str] | None = None) -> pl.LazyFrame:
    """Drop repeated events, keeping the first occurrence in source order.

    Args:
        events: an interaction log.
        subset: columns that identify an event; defaults to user, item, timestamp and (if present) event.
    """
    names = events.collect_schema().names()
    if subset is None:
        subset = [c for c in (USER, ITEM, TIMESTAMP, EVENT) if c in names]
    return events.unique(subset=subset, keep="first", maintain_order=True)


def k_core(
    events: pl.LazyFrame | pl.DataFrame,
    min_user_events: int = 5,
    min_item_events: int = 5,
    *,
    source: str = "events",
    max_rounds: int = 100,
) -> pl.DataFrame:
    """Iteratively drop users and items with too few events until every remaining one has enough.

    Counts are of events (rows), as in RecBole's ``user_inter_num_interval``. Raises ``EmptyDataError``
    when nothing survives.
    """
    frame = events.lazy().collect() if isinstance(events, pl.LazyFrame) else events
    for _ in range(max_rounds):
        before = frame.height
        frame = (
            frame.lazy()
            .filter(pl.len().over(USER) >= min_user_events)
            .filter(pl.len().over(ITEM) >= min_item_events)
            .collect()
        )
        if frame.height == before:
            break
    if frame.height == 0:
        raise EmptyDataError(
            f"no events left after {min_user_events}-core users / {min_item_events}-core items filtering",
            source=source, column=ITEM, rows=0,
        )
    return frame


def add_positions(events: pl.LazyFrame) -> pl.LazyFrame:
    """Sort by user then time (ties keep source order) and number each user's events 0, 1, 2, ..."""
    # A stable sort keeps ties in source order; it is twice as fast as sorting on a row-index tiebreaker.
    return (
        events.sort([USER, TIMESTAMP], maintain_order=True)
        .with_columns(pl.int_range(pl.len()).over(USER).cast(pl.Int32).alias(POSITION))
    )


def sessionize(events: pl.LazyFrame, gap_seconds: int = 1800, *, overwrite: bool = False) -> pl.LazyFrame:
    """Split each user's history into sessions at inactivity gaps longer than ``gap_seconds``.

    The session id is ``"<user_id>:<n>"`` with ``n`` counting from 0. An existing ``session_id`` column is
    kept unless ``overwrite`` is set. The frame must already be in chronological order per user
    (see :func:`add_positions`).
    """
    if SESSION in events.collect_schema().names() and not overwrite:
        return events
    gap = pl.col(TIMESTAMP).diff().over(USER)
    new_session = gap.is_null() | (gap > gap_seconds)
    number = (new_session.cast(pl.Int32).cum_sum().over(USER) - 1).cast(pl.String)
    return events.with_columns(pl.concat_str([pl.col(USER), number], separator=":").alias(SESSION))


def require_rows(frame: pl.DataFrame, source: str, step: str) -> pl.DataFrame:
    """Raise ``EmptyDataError`` naming the step when a frame has no rows left."""
    if frame.height == 0:
        raise EmptyDataError(f"no events left after {step}", source=source, column=None, rows=0)
    return frame
