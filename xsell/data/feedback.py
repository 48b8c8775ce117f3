"""Explicit feedback: a customer marks a shown recommendation helpful or not helpful (in-app surveys).

A feedback table has one row per answer: ``user_id``, ``anchor_item_id`` (the item the recommendation was
shown after: the purchase or cart it complements), ``recommended_item_id``, ``helpful`` (Boolean) and
``timestamp`` (when the answer was given, same clock as the events).

For training, every answer is attached to the event it was given after: the user's latest event of the
anchor item at or before the answer. The answers of one event become extra targets of the position that
predicts the next item after that event (see :class:`xsell.nn.losses.FeedbackLoss`): ``not helpful`` ones
as hard negatives, ``helpful`` ones as extra positives. Only answers attached to training events and given
before the user's first held-out event are used, so no feedback from the evaluation period leaks in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from xsell.data.preprocess import POSITION
from xsell.data.schema import ANCHOR, HELPFUL, ITEM, PAD_INDEX, RECOMMENDED, TIMESTAMP, UNKNOWN_INDEX, USER
from xsell.data.splits import PART, TRAIN, Split
from xsell.data.vocabulary import Vocabulary
from xsell.errors import EmptyDataError, SchemaError

FEEDBACK_COLUMNS = (USER, ANCHOR, RECOMMENDED, HELPFUL, TIMESTAMP)


def validate_feedback(frame: pl.DataFrame | pl.LazyFrame, source: str = "feedback") -> pl.DataFrame:
    """Check a feedback table and return it with canonical dtypes and column order.

    ``helpful`` may be Boolean or integer 0/1; ids are cast to String, timestamps to Int64.

    Raises:
        SchemaError: a column is missing, ``helpful`` holds other values than true/false/0/1, a timestamp is
            not an integer, or a value is null (naming the source, the column and the number of rows).
        EmptyDataError: the table has no rows.
    """
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    missing = [c for c in FEEDBACK_COLUMNS if c not in schema]
    if missing:
        raise SchemaError(f"feedback table lacks column(s) {missing}; found {schema.names()}", source=source,
                          column=missing[0])
    table = lazy.select(FEEDBACK_COLUMNS).collect()
    if table.height == 0:
        raise EmptyDataError("the feedback table has no rows", source=source, rows=0)
    for column in FEEDBACK_COLUMNS:
        nulls = table.get_column(column).null_count()
        if nulls:
            raise SchemaError("null values in the feedback table", source=source, column=column, rows=nulls)
    helpful = table.get_column(HELPFUL)
    if helpful.dtype != pl.Boolean:
        if not helpful.dtype.is_integer():
            raise SchemaError(f"helpful has type {helpful.dtype}, expected Boolean or 0/1", source=source,
                              column=HELPFUL, rows=table.height)
        bad = int((~helpful.is_in([0, 1])).sum())
        if bad:
            raise SchemaError("helpful holds values other than 0 and 1", source=source, column=HELPFUL, rows=bad)
    if not table.schema[TIMESTAMP].is_integer():
        raise SchemaError(f"timestamp has type {table.schema[TIMESTAMP]}, expected integer seconds", source=source,
                          column=TIMESTAMP, rows=table.height)
    return table.with_columns(
        pl.col(USER, ANCHOR, RECOMMENDED).cast(pl.String),
        pl.col(HELPFUL).cast(pl.Boolean),
        pl.col(TIMESTAMP).cast(pl.Int64),
    )


@dataclass
class EncodedFeedback:
    """Answers attached to events of an encoded log, at most ``K`` per event (the most recent ones).

    Attributes:
        items: ``[E, K]`` int32 recommended item index per event of the log (0 = no answer).
        helpful: ``[E, K]`` bool, True where the answer was "helpful".
        used: answers attached to a training event (the others were unmatched, held out or unknown items).
    """

    items: np.ndarray
    helpful: np.ndarray
    used: int

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Answers of log rows ``rows`` (any shape, ``-1`` = padding) -> ``(items, helpful)`` of shape ``rows.shape + (K,)``."""
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        items = np.where(valid[..., None], self.items[safe], PAD_INDEX)
        return items, self.helpful[safe] & valid[..., None]


def encode_feedback(feedback: pl.DataFrame, split: Split, item_vocab: Vocabulary, max_per_event: int = 4,
                    source: str = "feedback") -> EncodedFeedback:
    """Attach each answer to its training event (rows of ``split.events``, the order of the encoded log).

    An answer belongs to the user's latest event of the anchor item at or before the answer's timestamp;
    it is kept when that event is a training event, the answer comes before the user's first non-training
    event, and the recommended item is in ``item_vocab``. Per event the ``max_per_event`` latest answers
    are kept.
    """
    feedback = validate_feedback(feedback, source)
    events = split.events.with_row_index("_row").select("_row", USER, ITEM, TIMESTAMP, PART, POSITION)
    held_out_from = (events.filter(pl.col(PART) != TRAIN).group_by(USER)
                     .agg(pl.col(TIMESTAMP).min().alias("_held_out_from")))
    attached = (
        feedback.rename({ANCHOR: ITEM, TIMESTAMP: "_answered"}).sort("_answered")
        .join_asof(events.sort(TIMESTAMP), left_on="_answered", right_on=TIMESTAMP, by=[USER, ITEM],
                   strategy="backward", check_sortedness=False)  # sorted by time above
        .join(held_out_from, on=USER, how="left")
        .with_columns(item_vocab.encode(pl.col(RECOMMENDED)).alias("_item"))
        .filter(pl.col("_row").is_not_null() & (pl.col(PART) == TRAIN) & (pl.col("_item") != UNKNOWN_INDEX)
                & (pl.col("_held_out_from").is_null() | (pl.col("_answered") < pl.col("_held_out_from"))))
        .sort("_row", "_answered", descending=[False, True], maintain_order=True)
        .with_columns(pl.int_range(pl.len()).over("_row").alias("_slot"))
        .filter(pl.col("_slot") < max_per_event)
    )
    items = np.zeros((split.events.height, max_per_event), dtype=np.int32)
    helpful = np.zeros((split.events.height, max_per_event), dtype=bool)
    rows = attached.get_column("_row").to_numpy().astype(np.int64)
    slots = attached.get_column("_slot").to_numpy().astype(np.int64)
    items[rows, slots] = attached.get_column("_item").to_numpy()
    helpful[rows, slots] = attached.get_column(HELPFUL).to_numpy()
    return EncodedFeedback(items=items, helpful=helpful, used=attached.height)
