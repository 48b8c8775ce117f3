import polars as pl
import pytest

from xsell.data.schema import DEFAULT_EVENT_TYPES, EventTypes, validate_interactions
from xsell.errors import SchemaError


def test_canonical_dtypes_from_ints_and_floats():
    frame = pl.DataFrame({"user_id": [1, 2], "item_id": [10, 20], "timestamp": [1.4, 2.6]})
    out = validate_interactions(frame, "t.csv").collect()
    assert out.schema == {"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64}
    assert out.get_column("timestamp").to_list() == [1, 3]


def test_datetime_timestamps_become_epoch_seconds():
    frame = pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": ["2024-01-01 00:00:10"]})
    frame = frame.with_columns(pl.col("timestamp").str.to_datetime())
    assert validate_interactions(frame, "x").collect().item(0, "timestamp") == 1704067210


def test_missing_column_names_source_and_column():
    with pytest.raises(SchemaError, match=r"missing column.*source=log.parquet.*column='timestamp'"):
        validate_interactions(pl.DataFrame({"user_id": [1], "item_id": [2]}), "log.parquet")


def test_non_numeric_timestamps_counted():
    frame = pl.DataFrame({"user_id": ["a"] * 3, "item_id": ["x"] * 3, "timestamp": ["1", "yesterday", "soon"]})
    with pytest.raises(SchemaError, match="rows=2") as info:
        validate_interactions(frame, "f.csv")
    assert info.value.column == "timestamp" and info.value.rows == 2 and info.value.source == "f.csv"


def test_null_ids_counted():
    frame = pl.DataFrame({"user_id": ["a", None, None], "item_id": ["x", "y", "z"], "timestamp": [1, 2, 3]})
    with pytest.raises(SchemaError, match=r"column='user_id' \| rows=2"):
        validate_interactions(frame, "f.csv")


def test_event_types_encode_with_unknown():
    frame = pl.DataFrame({"event": ["view", "purchase", "refund", "cart"]})
    encoded = frame.select(DEFAULT_EVENT_TYPES.encode(pl.col("event"))).to_series().to_list()
    assert encoded == [2, 4, 1, 3]
    custom = EventTypes(("click", "buy"), weights=(1.0, 5.0))
    assert custom.size == 4 and custom.weights == (1.0, 5.0)
    with pytest.raises(ValueError):
        EventTypes(("a", "a"))
