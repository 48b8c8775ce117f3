"""From a split log to packed tensors: encoded flat arrays, training windows and evaluation targets.

Everything is built with vectorised numpy gathers over one flat, user-sorted array of events, never with
per-sample Python objects, so a 10M-event log packs in seconds.

Layout conventions (shared by every model):
- sequences are left-padded with 0 so that the most recent event is always in the last column;
- item, event-type and feature indices use the vocabulary convention (0 padding, 1 unknown, 2.. known);
- time gaps are log2 buckets of the seconds since the user's previous event (0 padding, 1 first event);
- context ids (device, time of day, session length so far; see :mod:`xsell.data.context`) sit in a last
  axis of ``C`` columns beside the items (``C = 0`` when no context column is used).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from xsell.data.context import encode_context
from xsell.data.features import FeatureSpec
from xsell.data.preprocess import POSITION
from xsell.data.schema import DEFAULT_EVENT_TYPES, EVENT, ITEM, PAD_INDEX, TIMESTAMP, USER, EventTypes
from xsell.data.splits import PART, TEST, TRAIN, VALIDATION, Split
from xsell.data.vocabulary import Vocabulary

NUM_TIME_GAP_BUCKETS = 34  # 0 pad, 1 first event, 2 + floor(log2(1 + seconds)) capped at 2**32 s


@dataclass
class EncodedLog:
    """One flat array per column, sorted by user then position; ``user_start[i]`` is where the user of
    event ``i`` begins, so the history of event ``i`` is ``item[user_start[i]:i]``."""

    user: np.ndarray  # [E] int32 user index
    item: np.ndarray  # [E] int32 item index
    event: np.ndarray  # [E] int8 event-type index (all 1 = unknown when the log has no event column)
    time_gap: np.ndarray  # [E] int8 time-gap bucket
    part: np.ndarray  # [E] int8 split part
    user_start: np.ndarray  # [E] int64
    item_vocab: Vocabulary
    user_vocab: Vocabulary
    event_types: EventTypes
    has_events: bool
    context: np.ndarray | None = None  # [E, C] int32 context ids, or None without context columns
    context_specs: list[FeatureSpec] = field(default_factory=list)
    context_values: list[list[str]] = field(default_factory=list)  # per column, the values of ids 2, 3, ..

    def __len__(self) -> int:
        return len(self.item)

    def training_item_counts(self) -> np.ndarray:
        """``[N]`` float64 number of training events per item index (0 at padding and unknown)."""
        return np.bincount(self.item[self.part == TRAIN], minlength=len(self.item_vocab)).astype(np.float64)


def time_gap_buckets(timestamps: pl.Expr, users: pl.Expr) -> pl.Expr:
    """Log2 bucket of the gap to the same user's previous event (1 for a user's first event)."""
    gap = timestamps.diff().over(users).clip(lower_bound=0)
    bucket = (gap.cast(pl.Float64) + 1.0).log(2).floor().cast(pl.Int32) + 2
    return bucket.clip(upper_bound=NUM_TIME_GAP_BUCKETS - 1).fill_null(1).cast(pl.Int8)


def encode_split(
    split: Split,
    *,
    event_types: EventTypes = DEFAULT_EVENT_TYPES,
    item_vocab: Vocabulary | None = None,
    context_columns: Sequence[str] = (),
    user_vocab: Vocabulary | None = None,
) -> EncodedLog:
    """Encode ids with vocabularies fitted on the training part only (or the given item vocabulary), and
    the ``context_columns`` of every event (see :func:`xsell.data.context.encode_context`). ``user_vocab``
    (default: fitted on this log) lets a part of a larger log be encoded with the whole log's user indices.

    Targets whose item never occurs in training map to the unknown index: they stay in the evaluation and
    count as misses, as they would in production.
    """
    events = split.events
    if item_vocab is None:  # only the item column of the training part, not a filtered copy of the log
        item_vocab = Vocabulary.fit(events.get_column(ITEM).filter(events.get_column(PART) == TRAIN), name=ITEM)
    if user_vocab is None:  # users are keys, not features
        user_vocab = Vocabulary.fit(events.get_column(USER), name=USER)
    has_events = EVENT in events.columns
    frame = events.select(
        user_vocab.encode(pl.col(USER)).alias("user"),
        item_vocab.encode(pl.col(ITEM)).alias("item"),
        (event_types.encode(pl.col(EVENT)) if has_events else pl.lit(1, pl.Int8)).alias("event"),
        time_gap_buckets(pl.col(TIMESTAMP), pl.col(USER)).alias("time_gap"),
        pl.col(PART),
        pl.col(POSITION),
    )
    user = frame.get_column("user").to_numpy()
    position = frame.get_column(POSITION).to_numpy().astype(np.int64)
    user_start = np.arange(len(user), dtype=np.int64) - position
    context, context_specs, context_values = (encode_context(events, context_columns) if context_columns
                                              else (None, [], []))
    return EncodedLog(
        user=user.astype(np.int32),
        item=frame.get_column("item").to_numpy().astype(np.int32),
        event=frame.get_column("event").to_numpy().astype(np.int8),
        time_gap=frame.get_column("time_gap").to_numpy().astype(np.int8),
        part=frame.get_column(PART).to_numpy().astype(np.int8),
        user_start=user_start,
        item_vocab=item_vocab,
        user_vocab=user_vocab,
        event_types=event_types,
        has_events=has_events,
        context=context,
        context_specs=context_specs,
        context_values=context_values,
    )


@dataclass
class PackedSequences:
    """Left-padded windows of consecutive events, one row per window."""

    items: np.ndarray  # [W, T] int32
    events: np.ndarray  # [W, T] int8
    time_gaps: np.ndarray  # [W, T] int8
    users: np.ndarray  # [W] int32
    context: np.ndarray | None = None  # [W, T, C] int32 context ids of each event, or None
    rows: np.ndarray | None = None  # [W, T] int64 row of each event in the flat log (-1 padding), if asked for

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class PackedTargets:
    """One row per prediction: the last ``max_len`` events before the target, and the target itself."""

    items: np.ndarray  # [N, L] int32 history
    events: np.ndarray  # [N, L] int8
    time_gaps: np.ndarray  # [N, L] int8
    users: np.ndarray  # [N] int32
    target: np.ndarray  # [N] int32 target item index (1 = unknown item)
    target_event: np.ndarray  # [N] int8
    seen_start: np.ndarray  # [N] int64: the full history is log.item[seen_start:row]
    row: np.ndarray  # [N] int64 index of the target in the flat log
    context: np.ndarray | None = None  # [N, L, C] int32 context ids of the history events, or None
    target_context: np.ndarray | None = None  # [N, C] int32 context of the target (the request), or None

    def __len__(self) -> int:
        return len(self.target)


def pack_training_windows(log: EncodedLog, max_len: int, *, shift: int = 1, rows: bool = False,
                          stride: int | None = None) -> PackedSequences:
    """Cut every user's training events into windows of ``max_len + shift`` events.

    With ``shift=1`` (causal training) a window's first ``max_len`` items are inputs and its last
    ``max_len`` are next-item labels; windows are laid back from the most recent event so that every
    training event is a label exactly once. With ``shift=0`` (Cloze training) windows do not overlap.
    Users with fewer than ``shift + 1`` training events give no window. ``rows=True`` also records each
    event's row in the log (to join per-event data such as explicit feedback).

    ``stride`` (causal only, ``1 <= stride <= max_len``; default ``max_len``) lays windows back every
    ``stride`` events instead: windows overlap, and only the last ``stride`` labels of each window are
    trained (see ``TrainingWindows``), so every training event is still a label exactly once but sees at
    least ``max_len - stride + 1`` earlier events when the user has them. ``stride=1`` is the one-target-per-
    prefix scheme of RecBole and GRU4Rec's data augmentation; it costs ``max_len / stride`` times the compute.
    """
    train_rows = np.flatnonzero(log.part == TRAIN)
    users = log.user[train_rows]
    # Training events are a prefix of each user's history, so rows are contiguous per user.
    boundaries = np.flatnonzero(np.diff(users, prepend=-1, append=-1))
    starts, ends = train_rows[boundaries[:-1]], train_rows[boundaries[1:] - 1] + 1
    lengths = ends - starts
    stride = max_len if stride is None else stride
    if not 1 <= stride <= max_len or (shift == 0 and stride != max_len):
        raise ValueError(f"stride must be in [1, max_len={max_len}] and equal max_len for Cloze windows, got {stride}")
    n_windows = np.maximum(np.ceil((lengths - shift) / stride).astype(np.int64), 0)
    window_user = np.repeat(np.arange(len(starts)), n_windows)
    step = np.arange(n_windows.sum()) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    window_end = ends[window_user] - step * stride  # exclusive
    width = max_len + shift
    index = window_end[:, None] - width + np.arange(width)[None, :]  # [W, T]
    valid = index >= starts[window_user][:, None]
    index = np.where(valid, index, 0)
    return PackedSequences(
        items=np.where(valid, log.item[index], PAD_INDEX).astype(np.int32),
        events=np.where(valid, log.event[index], PAD_INDEX).astype(np.int8),
        time_gaps=np.where(valid, log.time_gap[index], PAD_INDEX).astype(np.int8),
        users=log.user[starts[window_user]],
        context=_gather_context(log, index, valid),
        rows=np.where(valid, index, -1) if rows else None,
    )


def pack_targets(log: EncodedLog, part: int, max_len: int) -> PackedTargets:
    """Histories (the last ``max_len`` earlier events of the same user) and targets of one split part."""
    if part not in (VALIDATION, TEST):
        raise ValueError(f"part must be validation ({VALIDATION}) or test ({TEST}), got {part}")
    return pack_rows(log, np.flatnonzero(log.part == part), max_len)


def pack_rows(log: EncodedLog, rows: np.ndarray, max_len: int) -> PackedTargets:
    """Histories (the last ``max_len`` earlier events of the same user) of the events at ``rows`` of the flat
    log, each event being the target of its row."""
    rows = np.asarray(rows, dtype=np.int64)
    seen_start = log.user_start[rows]
    index = rows[:, None] - max_len + np.arange(max_len)[None, :]  # [N, L]
    valid = index >= seen_start[:, None]
    index = np.where(valid, index, 0)
    return PackedTargets(
        items=np.where(valid, log.item[index], PAD_INDEX).astype(np.int32),
        events=np.where(valid, log.event[index], PAD_INDEX).astype(np.int8),
        time_gaps=np.where(valid, log.time_gap[index], PAD_INDEX).astype(np.int8),
        users=log.user[rows],
        target=log.item[rows],
        target_event=log.event[rows],
        seen_start=seen_start,
        row=rows,
        context=_gather_context(log, index, valid),
        target_context=None if log.context is None else log.context[rows],
    )


def _gather_context(log: EncodedLog, index: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
    """``[N, T, C]`` context ids of the events at ``index`` ``[N, T]``, padding where not ``valid``."""
    if log.context is None:
        return None
    return np.where(valid[..., None], log.context[index], PAD_INDEX).astype(np.int32)


def seen_items(log: EncodedLog, targets: PackedTargets, rows: np.ndarray) -> np.ndarray:
    """Padded matrix of every item in the full history of the selected targets (for exclusion).

    Returns ``[len(rows), M]`` int64 where ``M`` is the longest history among them; 0 pads.
    """
    starts = targets.seen_start[rows]
    ends = targets.row[rows]
    lengths = ends - starts
    width = max(int(lengths.max(initial=0)), 1)
    index = starts[:, None] + np.arange(width)[None, :]
    valid = index < ends[:, None]
    return np.where(valid, log.item[np.where(valid, index, 0)], PAD_INDEX).astype(np.int64)
