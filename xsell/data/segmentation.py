"""Behavioural segments from an event log: recency, frequency, monetary value and category breadth per user,
cut into segments by quantile rules (RFM scores) or by k-means (FAISS), stored as one user column.

The column is a user feature like any other: a model reads it through ``inputs.user_features`` and the
evaluation slices by it (:func:`xsell.evaluation.segments.by_user_column`). Computed by
``SequenceDataModule(segments=BehaviouralSegments(...))`` it sees the training events only, so a segment
never uses an event that is later predicted.

Per user (``behaviour_table``):

- ``recency``: clock units (seconds for timestamps) from the user's last event to ``now`` (default: the
  log's last timestamp);
- ``frequency``: number of events;
- ``monetary``: sum of the prices of purchased items (events of type ``purchase_event``; every event counts
  when the log has no event column), when the item table has a ``price`` column;
- ``breadth``: number of distinct categories of the items the user touched (distinct items without a
  ``category`` column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np
import polars as pl

from xsell.data.schema import EVENT, ITEM, TIMESTAMP, USER
from xsell.errors import EmptyDataError, SchemaError

RECENCY, FREQUENCY, MONETARY, BREADTH = "recency", "frequency", "monetary", "breadth"
SEGMENT_COLUMN = "behaviour_segment"


def behaviour_table(
    events: pl.DataFrame | pl.LazyFrame,
    items: pl.DataFrame | pl.LazyFrame | None = None,
    *,
    now: int | None = None,
    purchase_event: str = "purchase",
    price: str = "price",
    category: str = "category",
) -> pl.DataFrame:
    """One row per user (sorted by ``user_id``): ``recency``, ``frequency``, ``breadth`` and, when ``items``
    has ``price``, ``monetary`` (see the module docstring). Raises ``EmptyDataError`` for an empty log."""
    log = events.lazy()
    names = log.collect_schema().names()
    missing = [c for c in (USER, ITEM, TIMESTAMP) if c not in names]
    if missing:
        raise SchemaError(f"behavioural segments need {missing} in the event log", column=missing[0])
    item_columns = [] if items is None else items.lazy().collect_schema().names()
    has_price, has_category = price in item_columns, category in item_columns
    if has_price or has_category:
        keep = [ITEM, *(c for c in (price, category) if c in item_columns)]
        table = items.lazy().select(keep).with_columns(pl.col(ITEM).cast(pl.String)).unique(ITEM, keep="first")
        log = log.with_columns(pl.col(ITEM).cast(pl.String)).join(table, on=ITEM, how="left")
    clock = pl.col(TIMESTAMP).max() if now is None else pl.lit(now, pl.Int64)
    bought = (pl.col(EVENT) == purchase_event) if EVENT in names else pl.lit(True)
    aggregates = [
        (pl.col("_now").first() - pl.col(TIMESTAMP).max()).cast(pl.Float64).alias(RECENCY),
        pl.len().cast(pl.Float64).alias(FREQUENCY),
        pl.col(category if has_category else ITEM).drop_nulls().n_unique().cast(pl.Float64).alias(BREADTH),
    ]
    if has_price:
        aggregates.append(pl.col(price).filter(bought).sum().cast(pl.Float64).alias(MONETARY))
    frame = log.with_columns(clock.alias("_now")).group_by(USER).agg(aggregates).sort(USER).collect()
    if frame.height == 0:
        raise EmptyDataError("behavioural segments of an empty event log", rows=0)
    return frame


def quantile_segments(table: pl.DataFrame, bins: int = 3) -> pl.Series:
    """RFM-style rule segments: each metric of ``table`` scored ``1..bins`` by its quantile among users
    (recency inverted: ``bins`` = most recent), joined into a label such as ``r3f2m1b2``."""
    scores = []
    for metric in (RECENCY, FREQUENCY, MONETARY, BREADTH):
        if metric not in table.columns:
            continue
        value = -pl.col(metric) if metric == RECENCY else pl.col(metric)
        rank = value.rank("average") / pl.len()  # (0, 1]
        score = (rank * bins).ceil().clip(1, bins).cast(pl.Int64).cast(pl.String)
        scores.append(pl.lit(metric[0]) + score)
    return table.select(pl.concat_str(scores).alias(SEGMENT_COLUMN)).to_series()


def kmeans_segments(table: pl.DataFrame, k: int = 4, *, seed: int = 0, niter: int = 25) -> pl.Series:
    """K-means (``faiss.Kmeans``, seeded) on the standardised ``log1p`` of the metrics; clusters are
    labelled ``k0`` .. ``k{k-1}`` in increasing order of their mean frequency (stable names)."""
    metrics = [m for m in (RECENCY, FREQUENCY, MONETARY, BREADTH) if m in table.columns]
    if k < 1 or k > table.height:
        raise ValueError(f"k must be between 1 and the number of users ({table.height}), got {k}")
    x = np.log1p(np.maximum(table.select(metrics).to_numpy().astype(np.float64), 0.0))  # [U, M]
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    x = np.ascontiguousarray(x, dtype=np.float32)
    kmeans = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, verbose=False, min_points_per_centroid=1)
    kmeans.train(x)
    _, assignment = kmeans.index.search(x, 1)
    assignment = assignment[:, 0]
    frequency = table.get_column(FREQUENCY).to_numpy()
    means = np.array([frequency[assignment == c].mean() if (assignment == c).any() else np.inf for c in range(k)])
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(means, kind="stable")] = np.arange(k)
    return pl.Series(SEGMENT_COLUMN, [f"k{r}" for r in rank[assignment]])


@dataclass
class BehaviouralSegments:
    """Computes a user column of behavioural segments from (training) events and the item table.

    Args:
        method: ``quantile`` (RFM scores, ``bins`` per metric) or ``kmeans`` (``k`` clusters, ``seed``).
        column: name of the user column written.
        purchase_event / price / category: see :func:`behaviour_table`.

    Example::

        segments = BehaviouralSegments(method="kmeans", k=4)
        users = segments(shop.events, shop.items)  # user_id, behaviour_segment
    """

    method: Literal["quantile", "kmeans"] = "quantile"
    bins: int = 3
    k: int = 4
    seed: int = 0
    column: str = SEGMENT_COLUMN
    purchase_event: str = "purchase"
    price: str = "price"
    category: str = "category"

    def __call__(self, events: pl.DataFrame | pl.LazyFrame, items: pl.DataFrame | None = None) -> pl.DataFrame:
        """``user_id`` and the segment column, one row per user of ``events``."""
        table = behaviour_table(events, items, purchase_event=self.purchase_event, price=self.price,
                                category=self.category)
        if self.method == "quantile":
            segment = quantile_segments(table, self.bins)
        elif self.method == "kmeans":
            segment = kmeans_segments(table, self.k, seed=self.seed)
        else:
            raise ValueError(f"method must be 'quantile' or 'kmeans', got {self.method!r}")
        return table.select(USER).with_columns(segment.alias(self.column))
