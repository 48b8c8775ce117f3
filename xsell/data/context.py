"""Per-event context columns (device, time of day, session length so far) as integer ids.

The context of an event is what is known *when it is requested*, before its item: the device the customer
is on, the time of day, how many events the session already has. Models read the context of the event they
predict (never its item), so these ids travel beside the item ids (see ``SequenceBatch.context``).

Ids follow the vocabulary convention (0 padding, 1 unknown or missing, 2.. known). Each column's vocabulary
is fitted on the training part only, so a value first seen in validation or test reads as unknown.
``session_length`` is derived from ``session_id``: the number of earlier events of the same session,
bucketed (``SESSION_LENGTH_BUCKETS``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from xsell.data.features import FeatureSpec
from xsell.data.schema import FIRST_INDEX, SESSION, UNKNOWN_INDEX, USER
from xsell.data.splits import PART, TRAIN
from xsell.data.vocabulary import Vocabulary
from xsell.errors import SchemaError

SESSION_LENGTH = "session_length"
SESSION_LENGTH_BUCKETS = ("0", "1", "2", "3-4", "5-8", "9-16", "17+")  # earlier events in the session
_SESSION_BREAKS = (0, 1, 2, 4, 8, 16)  # right-closed upper bounds of all buckets but the last


def session_length_so_far(session: pl.Expr, user: pl.Expr) -> pl.Expr:
    """Bucket index (``FIRST_INDEX`` + position in ``SESSION_LENGTH_BUCKETS``) of the number of events of the
    same user and session before each event; rows must be in time order within each user."""
    earlier = pl.int_range(pl.len()).over(user, session)
    bucket = pl.lit(0, pl.Int32)
    for upper in _SESSION_BREAKS:
        bucket = bucket + (earlier > upper).cast(pl.Int32)
    return (bucket + FIRST_INDEX).cast(pl.Int32)


def encode_context(
    events: pl.DataFrame, columns: Sequence[str], *, source: str = "events"
) -> tuple[np.ndarray, list[FeatureSpec], list[list[str]]]:
    """``[E, C]`` int32 context ids of ``events`` (in their order), one ``FeatureSpec`` per column and, per
    column, the values of ids 2, 3, .. (what a serving client encodes with).

    ``events`` is a split log (its ``part`` column says which rows are training rows); categorical columns
    get vocabularies fitted on the training rows, ``session_length`` is derived from ``session_id``. Missing
    values are unknown (1). Raises ``SchemaError`` naming the column when ``events`` lacks one.
    """
    needed = [SESSION if c == SESSION_LENGTH else c for c in columns]
    missing = [c for c in needed if c not in events.columns]
    if missing:
        raise SchemaError(f"context column(s) {missing} not in the event log {events.columns} "
                          f"({SESSION_LENGTH} is derived from {SESSION})", source=source, column=missing[0])
    blocks, specs, values_of = [], [], []
    training = events.get_column(PART) == TRAIN
    for name in columns:
        if name == SESSION_LENGTH:
            ids = events.select(session_length_so_far(pl.col(SESSION), pl.col(USER))).to_series()
            ids = ids.to_numpy().copy()
            ids[events.get_column(SESSION).is_null().to_numpy()] = UNKNOWN_INDEX
            specs.append(FeatureSpec(name, len(SESSION_LENGTH_BUCKETS) + FIRST_INDEX))
            values_of.append(list(SESSION_LENGTH_BUCKETS))
        else:
            values = events.get_column(name).cast(pl.String)
            vocab = Vocabulary.fit(values.filter(training), name=name)
            ids = values.to_frame().select(vocab.encode(pl.col(name))).to_series().to_numpy()
            ids = np.where(values.is_null().to_numpy(), UNKNOWN_INDEX, ids)  # missing: unknown, not padding
            specs.append(FeatureSpec(name, len(vocab)))
            values_of.append(list(vocab.ids))
        blocks.append(np.asarray(ids, dtype=np.int32))
    ids = np.stack(blocks, axis=1) if blocks else np.zeros((events.height, 0), dtype=np.int32)
    return ids, specs, values_of
