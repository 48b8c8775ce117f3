"""Metrics by segment of the predictions: history length, last / target event type, any user attribute,
any context column of the target event (device, time of day).

Each function returns a polars DataFrame with one row per segment: the segment value, ``count``,
``share`` of all predictions, and for each metric (NDCG@k, Recall@k, MRR@k by default) its mean and the
bounds of its bootstrap confidence interval (``ndcg@10_low``, ``ndcg@10_high``). Segment means weighted by
``count`` give back the overall means.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from xsell.data.schema import DEFAULT_EVENT_TYPES, FIRST_INDEX, PAD_INDEX, UNKNOWN_INDEX, USER, EventTypes
from xsell.data.vocabulary import Vocabulary
from xsell.evaluation.table import HISTORY_LENGTH, LAST_EVENT, ROW, TARGET_EVENT, metric_values
from xsell.evaluation.table import USER as USER_INDEX
from xsell.stats import bootstrap_ci

SEGMENT_METRICS = ("ndcg", "recall", "mrr")
HISTORY_BUCKETS = ("0", "1", "2-4", "5-9", "10-19", "20-49", "50+")
_BUCKET_BREAKS = (0, 1, 4, 9, 19, 49)  # right-closed upper bounds of all buckets but the last
NO_HISTORY = "(no history)"
UNKNOWN_EVENT = "(unknown)"


def segment_metrics(
    table: pl.DataFrame,
    by: str | pl.Expr,
    *,
    k: int = 10,
    metrics: Sequence[str] = SEGMENT_METRICS,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pl.DataFrame:
    """Count, share and mean metrics with bootstrap CIs per value of ``by``.

    Args:
        table: a rank table (metrics are computed from ``rank``), or any frame with the metric columns.
        by: a column name or an expression evaluated on ``table`` (its output name names the column).
            Null values form a segment of their own.
        k: cut-off of the metrics. metrics: names in :data:`~xsell.evaluation.metrics.METRICS`.
        confidence / n_resamples / seed: bootstrap options (the same seed for every segment).
    Returns:
        One row per segment, sorted by segment (Enum order for history buckets and event names).
    """
    names = [f"{metric}@{k}" for metric in metrics]
    key = pl.col(by) if isinstance(by, str) else by
    values = np.column_stack([metric_values(table, name) for name in names]) if names else None
    frame = table.select(key).with_row_index("_position")
    column = frame.columns[1]
    rows = []  # one per segment (few): this loops over segments, not over predictions
    for group in frame.partition_by(column, maintain_order=True):
        positions = group.get_column("_position").to_numpy()
        row = {column: group.get_column(column)[0], "count": len(positions),
               "share": len(positions) / max(table.height, 1)}
        if values is not None:
            interval = bootstrap_ci(values[positions], confidence=confidence, n_resamples=n_resamples, seed=seed)
            for i, name in enumerate(names):
                row[name] = float(interval.estimate[i])
                row[f"{name}_low"] = float(interval.low[i])
                row[f"{name}_high"] = float(interval.high[i])
        rows.append(row)
    schema = {column: frame.schema[column], "count": pl.Int64, "share": pl.Float64,
              **{f"{name}{suffix}": pl.Float64 for name in names for suffix in ("", "_low", "_high")}}
    return pl.DataFrame(rows, schema=schema).sort(column, nulls_last=True)


# ----------------------------------------------------------------------------------- segment columns


def history_bucket(length: pl.Expr | None = None) -> pl.Expr:
    """History length (default the ``history_length`` column) -> bucket (``0``, ``1``, ``2-4``, ``5-9``,
    ``10-19``, ``20-49``, ``50+`` events), an Enum."""
    length = pl.col(HISTORY_LENGTH) if length is None else length
    bucket = pl.when(length <= _BUCKET_BREAKS[0]).then(pl.lit(HISTORY_BUCKETS[0]))
    for upper, label in zip(_BUCKET_BREAKS[1:], HISTORY_BUCKETS[1:], strict=False):
        bucket = bucket.when(length <= upper).then(pl.lit(label))
    return bucket.otherwise(pl.lit(HISTORY_BUCKETS[-1])).cast(pl.Enum(HISTORY_BUCKETS))


def event_name(index: pl.Expr, event_types: EventTypes = DEFAULT_EVENT_TYPES) -> pl.Expr:
    """Event-type index -> name (an Enum in funnel order); 0 is ``(no history)``, 1 ``(unknown)``."""
    labels = (NO_HISTORY, UNKNOWN_EVENT, *event_types.names)
    mapping = {PAD_INDEX: NO_HISTORY, UNKNOWN_INDEX: UNKNOWN_EVENT,
               **{i + FIRST_INDEX: name for i, name in enumerate(event_types.names)}}
    return index.replace_strict(mapping, default=UNKNOWN_EVENT, return_dtype=pl.String).cast(pl.Enum(labels))


def users_by_index(users: pl.DataFrame, user_vocab: Vocabulary) -> pl.DataFrame:
    """A user table keyed by ``user_id`` -> the same table keyed by the rank table's ``user`` index
    (users outside the vocabulary are dropped). Map e.g. ``prepared.interactions.users`` with
    ``prepared.log.user_vocab``."""
    return (users.with_columns(user_vocab.encode(pl.col(USER)).cast(pl.Int64).alias(USER_INDEX))
            .filter(pl.col(USER_INDEX) >= FIRST_INDEX).drop(USER))


# ------------------------------------------------------------------------------------ common segments


def by_history_length(table: pl.DataFrame, **options) -> pl.DataFrame:
    """Metrics by history-length bucket (options as :func:`segment_metrics`)."""
    return segment_metrics(table, history_bucket().alias("history_bucket"), **options)


def by_last_event(table: pl.DataFrame, event_types: EventTypes = DEFAULT_EVENT_TYPES, **options) -> pl.DataFrame:
    """Metrics by the event type of the last history event (what the user just did)."""
    return segment_metrics(table, event_name(pl.col(LAST_EVENT), event_types).alias(LAST_EVENT), **options)


def by_target_event(table: pl.DataFrame, event_types: EventTypes = DEFAULT_EVENT_TYPES, **options) -> pl.DataFrame:
    """Metrics by the event type of the target (predicting a view, a cart, a purchase)."""
    return segment_metrics(table, event_name(pl.col(TARGET_EVENT), event_types).alias(TARGET_EVENT), **options)


def by_user_column(table: pl.DataFrame, users: pl.DataFrame, column: str, **options) -> pl.DataFrame:
    """Metrics by a user attribute: ``users`` is keyed by the ``user`` index (see :func:`users_by_index`);
    predictions of users missing from it fall in the null segment."""
    if users.get_column(USER_INDEX).n_unique() != users.height:
        raise ValueError("the user table has duplicate user indices")
    joined = table.join(users.select(USER_INDEX, column), on=USER_INDEX, how="left", maintain_order="left")
    return segment_metrics(joined, column, **options)


def by_context_column(table: pl.DataFrame, events: pl.DataFrame, column: str, **options) -> pl.DataFrame:
    """Metrics by a context column of the target event (e.g. the device the user was on).

    ``events`` is the split log (``prepared.split.events``), whose row positions are the rank table's
    ``row`` keys; predictions without a known row fall in the null segment."""
    context = events.select(pl.col(column)).with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    joined = table.join(context, on=ROW, how="left", maintain_order="left")
    return segment_metrics(joined, column, **options)
