"""Column names and dtypes of an interaction log, written down once, and the check that enforces them.

An interaction log has ``user_id``, ``item_id`` and ``timestamp`` (integer seconds, or any integer clock
whose order is the event order), and optionally ``event`` (a behaviour name such as ``view``), ``session_id``
and context columns (``device``, ...). Ids are kept as strings so that every reader yields the same types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from xsell.errors import SchemaError

USER = "user_id"
ITEM = "item_id"
TIMESTAMP = "timestamp"
EVENT = "event"
SESSION = "session_id"
# Explicit feedback tables (``xsell.data.feedback``): user, anchor, recommended item, helpful, timestamp.
ANCHOR = "anchor_item_id"
RECOMMENDED = "recommended_item_id"
HELPFUL = "helpful"

REQUIRED_COLUMNS = (USER, ITEM, TIMESTAMP)
ID_DTYPE = pl.String
TIMESTAMP_DTYPE = pl.Int64

# Reserved indices of every vocabulary (items, event types, categorical features).
PAD_INDEX = 0
UNKNOWN_INDEX = 1
FIRST_INDEX = 2


@dataclass(frozen=True)
class EventTypes:
    """An ordered vocabulary of behaviours, weakest first, with a weight each.

    Args:
        names: behaviour names in funnel order, e.g. ``("view", "cart", "purchase")``.
        weights: one weight per name (used by losses and scoring rules); defaults to 1, 2, 3, ...

    Event indices follow the vocabulary convention: 0 is padding, 1 is an unknown behaviour,
    ``names[i]`` is ``i + 2``.
    """

    names: tuple[str, ...] = ("view", "cart", "purchase")
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"event names must be unique, got {self.names}")
        if self.weights is None:
            object.__setattr__(self, "weights", tuple(float(i + 1) for i in range(len(self.names))))
        elif len(self.weights) != len(self.names):
            raise ValueError("one weight per event name is needed")

    @property
    def size(self) -> int:
        """Number of indices including padding and unknown."""
        return len(self.names) + FIRST_INDEX

    def index_of(self) -> dict[str, int]:
        """Name -> index mapping (padding and unknown excluded)."""
        return {name: i + FIRST_INDEX for i, name in enumerate(self.names)}

    def encode(self, column: pl.Expr) -> pl.Expr:
        """Polars expression mapping event names to indices; unseen names map to the unknown index."""
        return column.replace_strict(self.index_of(), default=UNKNOWN_INDEX, return_dtype=pl.Int8)


DEFAULT_EVENT_TYPES = EventTypes()


def validate_interactions(
    frame: pl.LazyFrame | pl.DataFrame,
    source: str,
    *,
    context: Sequence[str] = (),
) -> pl.LazyFrame:
    """Check an interaction log against the schema and return it with canonical dtypes.

    Raises ``SchemaError`` naming the source, the column and the number of bad rows when a required column
    is missing, a timestamp is not numeric (or a date/time), or an id / timestamp is null.

    Args:
        frame: a log whose columns already carry the canonical names.
        source: file name or data set name, used in error messages.
        context: extra columns that must be present (e.g. ``["device"]``).
    """
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    missing = [c for c in (*REQUIRED_COLUMNS, *context) if c not in schema]
    if missing:
        raise SchemaError(
            f"missing column(s) {missing}; found {list(schema.names())}", source=source, column=missing[0]
        )

    ts_dtype = schema[TIMESTAMP]
    if ts_dtype == pl.String:
        ts = pl.col(TIMESTAMP).str.strip_chars()
        bad = _count(lazy, ts.cast(pl.Float64, strict=False).is_null() & pl.col(TIMESTAMP).is_not_null())
        if bad:
            raise SchemaError("timestamps are not numeric", source=source, column=TIMESTAMP, rows=bad)
        lazy = lazy.with_columns(ts.cast(pl.Float64).round(0).cast(TIMESTAMP_DTYPE).alias(TIMESTAMP))
    elif ts_dtype.is_temporal():
        lazy = lazy.with_columns(pl.col(TIMESTAMP).dt.epoch("s").cast(TIMESTAMP_DTYPE))
    elif ts_dtype.is_numeric():
        lazy = lazy.with_columns(pl.col(TIMESTAMP).round(0).cast(TIMESTAMP_DTYPE) if ts_dtype.is_float()
                                 else pl.col(TIMESTAMP).cast(TIMESTAMP_DTYPE))
    else:
        raise SchemaError(f"timestamp has type {ts_dtype}, expected a number or a date/time",
                          source=source, column=TIMESTAMP, rows=None)

    casts = [pl.col(c).cast(ID_DTYPE) for c in (USER, ITEM) if schema[c] != ID_DTYPE]
    if SESSION in schema and schema[SESSION] != ID_DTYPE:
        casts.append(pl.col(SESSION).cast(ID_DTYPE))
    if EVENT in schema and schema[EVENT] != ID_DTYPE:
        casts.append(pl.col(EVENT).cast(ID_DTYPE))
    if casts:
        lazy = lazy.with_columns(casts)

    null_counts = lazy.select(pl.col(*REQUIRED_COLUMNS).null_count()).collect().row(0, named=True)
    for column, nulls in null_counts.items():
        if nulls:
            raise SchemaError("null values", source=source, column=column, rows=int(nulls))
    return lazy


def rename_columns(frame: pl.LazyFrame, columns: Mapping[str, str] | None) -> pl.LazyFrame:
    """Rename foreign column names onto the canonical ones (``{"visitorid": "user_id", ...}``)."""
    if not columns:
        return frame
    return frame.rename(dict(columns), strict=False)


def _count(lazy: pl.LazyFrame, condition: pl.Expr) -> int:
    return int(lazy.select(condition.sum()).collect().item())
