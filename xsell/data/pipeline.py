"""The preprocessing pipeline in one call: validate, dedupe, k-core, order, split, check for leakage."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import polars as pl

from xsell.data.interactions import Interactions
from xsell.data.preprocess import add_positions, dedupe, k_core, require_rows, sessionize
from xsell.data.schema import validate_interactions
from xsell.data.splits import (
    Split,
    check_no_leakage,
    held_out_users,
    leave_last_session_out,
    leave_one_out,
    temporal_split,
)

SplitName = Literal["leave_one_out", "temporal", "leave_last_session_out", "held_out_users"]


def prepare_split(
    data: Interactions,
    *,
    split: SplitName = "leave_one_out",
    drop_duplicates: bool = True,
    min_user_events: int = 0,
    min_item_events: int = 0,
    session_gap_seconds: int | None = None,
    cutoff: int | float | datetime | None = None,
    validation_cutoff: int | float | datetime | None = None,
    held_out_fraction: float = 0.1,
) -> Split:
    """Clean a data set and split it, raising ``EmptyDataError`` if a step leaves nothing.

    Args:
        data: what a reader or the synthetic shop returned.
        split: the protocol; ``"temporal"`` needs ``cutoff``.
        drop_duplicates: drop repeated (user, item, timestamp, event) rows.
        min_user_events / min_item_events: iterative k-core thresholds (0 = no filtering).
        session_gap_seconds: sessionise by inactivity gap when the log has no ``session_id`` (and for
            ``leave_last_session_out``).
        cutoff / validation_cutoff: the temporal split's cutoffs (epoch seconds, datetime or quantile).
        held_out_fraction: ``held_out_users``: the share of users held out for test, and again for validation.
    """
    events = validate_interactions(data.events, data.name)
    if drop_duplicates:
        events = dedupe(events)
    if min_user_events > 1 or min_item_events > 1:
        if split == "temporal":
            raise ValueError("k-core filtering before a temporal split would use future events; "
                             "filter the training window instead")
        events = k_core(events, min_user_events, min_item_events, source=data.name).lazy()
    ordered = add_positions(events)
    if session_gap_seconds is not None:
        ordered = sessionize(ordered, session_gap_seconds)
    # One collect: no deduplicated copy of the log stays alive next to the ordered one.
    ordered_frame = require_rows(ordered.collect(), data.name, "reading")
    del events, ordered
    if split == "leave_one_out":
        result = leave_one_out(ordered_frame)
    elif split == "temporal":
        if cutoff is None:
            raise ValueError("split='temporal' needs a cutoff")
        result = temporal_split(ordered_frame, cutoff, validation_cutoff=validation_cutoff)
    elif split == "leave_last_session_out":
        result = leave_last_session_out(ordered_frame, gap_seconds=session_gap_seconds or 1800)
    elif split == "held_out_users":
        result = held_out_users(ordered_frame, fraction=held_out_fraction)
    else:
        raise ValueError(f"unknown split {split!r}; expected leave_one_out, temporal, leave_last_session_out or "
                         "held_out_users")
    require_rows(result.events.filter(pl.col("part") == 0), data.name, f"the {split} split (training part)")
    check_no_leakage(result)
    return result
