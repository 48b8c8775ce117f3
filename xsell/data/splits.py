"""Train / validation / test splits for next-item recommendation, and the check that they do not leak.

Every split keeps the whole ordered log and marks which events are training events and which are
validation and test *targets*. The history of a target is always the user's events that come before it
(smaller ``position``), so a model never sees a target or anything after it. Training events are a prefix
of each user's history: they precede every validation target, which precedes every test target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import polars as pl

from xsell.data.preprocess import POSITION, add_positions, sessionize
from xsell.data.schema import ITEM, SESSION, TIMESTAMP, USER
from xsell.errors import EmptyDataError, XsellError

PART = "part"
TRAIN, VALIDATION, TEST, HELD_OUT = 0, 1, 2, 3  # HELD_OUT: after the training window but not a target


class LeakageError(XsellError, AssertionError):
    """A split lets a test or validation target (or a later event) reach training."""


@dataclass
class Split:
    """The result of a split.

    Attributes:
        events: the whole log in chronological order per user, with ``position`` and ``part``
            (0 train, 1 validation target, 2 test target, 3 held out: later than training, not a target).
        protocol: ``"leave_one_out"``, ``"temporal"``, ``"leave_last_session_out"`` or ``"held_out_users"``.
        cutoff: the time cutoff of a temporal split (nothing at or after it is used for training).
    """

    events: pl.DataFrame
    protocol: str
    cutoff: int | None = None
    validation_cutoff: int | None = None

    @property
    def train(self) -> pl.DataFrame:
        """Events a model, its features and its vocabularies may learn from."""
        return self.events.filter(pl.col(PART) == TRAIN)

    @property
    def validation(self) -> pl.DataFrame:
        """Validation target events (one row per prediction to make)."""
        return self.events.filter(pl.col(PART) == VALIDATION)

    @property
    def test(self) -> pl.DataFrame:
        """Test target events (one row per prediction to make)."""
        return self.events.filter(pl.col(PART) == TEST)

    def history(self, targets: pl.DataFrame) -> pl.DataFrame:
        """Every event that precedes each target of the same user (the input available for that target)."""
        keys = targets.select(USER, pl.col(POSITION).alias("_target_position"))
        return (
            self.events.join(keys, on=USER)
            .filter(pl.col(POSITION) < pl.col("_target_position"))
            .sort([USER, "_target_position", POSITION])
        )

    def __iter__(self):
        """Unpack as ``train, validation, test = split``."""
        return iter((self.train, self.validation, self.test))


def leave_one_out(events: pl.DataFrame | pl.LazyFrame, *, min_events: int = 3) -> Split:
    """Last event of each user is the test target, the second-last the validation target, the rest train.

    Users with fewer than ``min_events`` events keep everything in training (as in SASRec and RecBole).
    """
    frame = _ordered(events)
    n = pl.len().over(USER)
    part = (
        pl.when(n < min_events).then(TRAIN)
        .when(pl.col(POSITION) == n - 1).then(TEST)
        .when(pl.col(POSITION) == n - 2).then(VALIDATION)
        .otherwise(TRAIN)
    )
    return Split(_with_part(frame, part), "leave_one_out")


def temporal_split(
    events: pl.DataFrame | pl.LazyFrame,
    cutoff: int | float | datetime,
    *,
    validation_cutoff: int | float | datetime | None = None,
    targets: Literal["first", "all"] = "first",
) -> Split:
    """Global temporal split: training uses only events before ``cutoff``.

    Args:
        cutoff: epoch seconds, a datetime, or a fraction in (0, 1) read as a quantile of the timestamps.
        validation_cutoff: an earlier cutoff; events in ``[validation_cutoff, cutoff)`` are held out of
            training and each user's first one is a validation target. When None, each user's last event
            before ``cutoff`` is the validation target (leave-one-out inside the training window).
        targets: ``"first"``: a user's first event at or after the cutoff is the test target;
            ``"all"``: every such event is one.

    Only users with at least one earlier event get targets (a model needs a history to predict from).
    """
    frame = _ordered(events)
    t_cut = _resolve_cutoff(frame, cutoff)
    ts = pl.col(TIMESTAMP)
    has_history = pl.col(POSITION) > 0
    if validation_cutoff is None:
        t_val = None
        n_before = (ts < t_cut).sum().over(USER)
        is_val = (ts < t_cut) & (pl.col(POSITION) == n_before - 1) & has_history
        train_window = ts < t_cut
    else:
        t_val = _resolve_cutoff(frame, validation_cutoff)
        if t_val > t_cut:
            raise ValueError(f"validation_cutoff {t_val} is after cutoff {t_cut}")
        in_val = (ts >= t_val) & (ts < t_cut)
        is_val = in_val & (pl.col(POSITION) == pl.col(POSITION).filter(in_val).min().over(USER)) & has_history
        train_window = ts < t_val
    after = ts >= t_cut
    first_after = pl.col(POSITION) == pl.col(POSITION).filter(after).min().over(USER)
    is_test = after & has_history & (first_after if targets == "first" else pl.lit(True))
    part = (
        pl.when(is_test).then(TEST)
        .when(is_val).then(VALIDATION)
        .when(train_window).then(TRAIN)
        .otherwise(HELD_OUT)
    )
    return Split(_with_part(frame, part), "temporal", cutoff=t_cut, validation_cutoff=t_val)


def leave_last_session_out(
    events: pl.DataFrame | pl.LazyFrame, *, gap_seconds: int = 1800, min_sessions: int = 3
) -> Split:
    """Every event of a user's last session is a test target, of the second-last a validation target.

    Sessions come from ``session_id`` when present, otherwise from inactivity gaps of ``gap_seconds``.
    Users with fewer than ``min_sessions`` sessions keep everything in training.
    """
    frame = _ordered(events)
    frame = sessionize(frame.lazy(), gap_seconds).collect()
    # Rank sessions by their first position so that session ids of any form order correctly.
    start = pl.col(POSITION).min().over([USER, SESSION])
    session_rank = start.rank("dense").over(USER)
    n_sessions = start.n_unique().over(USER)
    part = (
        pl.when(n_sessions < min_sessions).then(TRAIN)
        .when(session_rank == n_sessions).then(TEST)
        .when(session_rank == n_sessions - 1).then(VALIDATION)
        .otherwise(TRAIN)
    )
    return Split(_with_part(frame, part), "leave_last_session_out")


def held_out_users(
    events: pl.DataFrame | pl.LazyFrame, *, fraction: float = 0.1, drop_unseen_items: bool = True
) -> Split:
    """Session-based protocol: whole users (sessions) are held out, and every next event of theirs is a target.

    Users are ordered by their first event (then by id); the last ``fraction`` of them are test users, the
    ``fraction`` before those validation users, and every event of the others is a training event. A held-out
    user's first event is history only (``HELD_OUT``); each later one is a target predicted from the events
    before it, as in the GRU4Rec papers' evaluation (a session's state starts from nothing). With
    ``drop_unseen_items`` the held-out users' events whose item no training event has are removed first, from
    the histories as well as the targets, as the official GRU4Rec evaluation filters its test set.

    Raises ``ValueError`` when ``fraction`` is not in (0, 0.5) or leaves a part without users.
    """
    if not 0.0 < fraction < 0.5:
        raise ValueError(f"held_out_users needs a fraction in (0, 0.5), got {fraction}")
    frame = _ordered(events)
    first = frame.group_by(USER).agg(pl.col(TIMESTAMP).min().alias("_first")).sort(["_first", USER])
    n_users = first.height
    n_held = round(fraction * n_users)
    if n_held < 1 or n_users - 2 * n_held < 1:
        raise ValueError(f"held_out_users with fraction {fraction} of {n_users} users leaves a part without users")
    rank = first.with_columns(pl.int_range(pl.len()).alias("_rank")).select(USER, "_rank")
    role = (
        pl.when(pl.col("_rank") >= n_users - n_held).then(TEST)
        .when(pl.col("_rank") >= n_users - 2 * n_held).then(VALIDATION)
        .otherwise(TRAIN)
    )
    frame = frame.join(rank, on=USER, how="left", maintain_order="left").with_columns(role.alias("_role"))
    if drop_unseen_items:
        trained = frame.filter(pl.col("_role") == TRAIN).get_column(ITEM).unique()
        frame = frame.filter((pl.col("_role") == TRAIN) | pl.col(ITEM).is_in(trained.implode()))
        frame = frame.with_columns(pl.int_range(pl.len()).over(USER).cast(pl.Int32).alias(POSITION))
    part = pl.when(pl.col("_role") == TRAIN).then(TRAIN).when(pl.col(POSITION) == 0).then(HELD_OUT).otherwise(
        pl.col("_role"))
    return Split(_with_part(frame, part).drop("_rank", "_role"), "held_out_users")


def check_no_leakage(split: Split) -> None:
    """Raise ``LeakageError`` if any training event is not strictly earlier than every target of its user,
    if a validation target comes after a test target, or if training reaches past a temporal cutoff."""
    # Lazy: the streaming group-by takes a fraction of the eager one's memory (10M events: 0.1 vs 1.4 GB).
    per_user = split.events.lazy().group_by(USER).agg(
        pl.col(POSITION).filter(pl.col(PART) == TRAIN).max().alias("last_train"),
        pl.col(POSITION).filter(pl.col(PART).is_in([VALIDATION, TEST, HELD_OUT])).min().alias("first_other"),
        pl.col(POSITION).filter(pl.col(PART) == VALIDATION).max().alias("last_val"),
        pl.col(POSITION).filter(pl.col(PART) == TEST).min().alias("first_test"),
        pl.col(TIMESTAMP).filter(pl.col(PART) == TRAIN).max().alias("last_train_time"),
        pl.col(TIMESTAMP).filter(pl.col(PART).is_in([VALIDATION, TEST])).min().alias("first_target_time"),
    ).collect()
    checks = {
        "training event at or after a target/held-out event": pl.col("last_train") >= pl.col("first_other"),
        "validation target after a test target": pl.col("last_val") >= pl.col("first_test"),
        "training event later in time than a target": pl.col("last_train_time") > pl.col("first_target_time"),
    }
    if split.cutoff is not None:
        checks["training event at or after the cutoff"] = pl.col("last_train_time") >= split.cutoff
    for what, condition in checks.items():
        bad = per_user.filter(condition.fill_null(False))
        if bad.height:
            raise LeakageError(
                f"{split.protocol} split leaks: {what} for {bad.height} user(s), "
                f"e.g. user {bad.get_column(USER)[0]!r}"
            )


def _ordered(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    lazy = events.lazy()
    if POSITION not in lazy.collect_schema().names():
        lazy = add_positions(lazy)
    frame = lazy.collect()
    if frame.height == 0:
        raise EmptyDataError("cannot split an empty log", source="events", rows=0)
    return frame


def _with_part(frame: pl.DataFrame, part: pl.Expr) -> pl.DataFrame:
    return frame.with_columns(part.cast(pl.Int8).alias(PART))


def _resolve_cutoff(frame: pl.DataFrame, cutoff: int | float | datetime) -> int:
    if isinstance(cutoff, datetime):
        return int(cutoff.timestamp())
    if isinstance(cutoff, float) and 0.0 < cutoff < 1.0:
        return int(frame.get_column(TIMESTAMP).quantile(cutoff, interpolation="lower"))
    return int(cutoff)
