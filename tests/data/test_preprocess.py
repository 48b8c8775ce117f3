import polars as pl
import pytest

from xsell.data.preprocess import POSITION, add_positions, dedupe, k_core, sessionize
from xsell.errors import EmptyDataError


def log(rows):
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def test_dedupe_keeps_first_occurrence():
    frame = log([("a", "x", 1), ("a", "x", 1), ("a", "y", 1), ("b", "x", 1), ("a", "x", 2)])
    out = dedupe(frame.lazy()).collect()
    assert out.rows() == [("a", "x", 1), ("a", "y", 1), ("b", "x", 1), ("a", "x", 2)]


def test_k_core_is_iterative():
    # One pass drops user c, then item z (1 event left); only a second pass sees that b is down to 1 event.
    frame = log([
        ("a", "x", 1), ("a", "y", 2),
        ("b", "x", 1), ("b", "z", 2),
        ("c", "z", 1),
        ("d", "x", 1), ("d", "y", 2),
    ])
    out = k_core(frame, min_user_events=2, min_item_events=2)
    assert out.rows() == [("a", "x", 1), ("a", "y", 2), ("d", "x", 1), ("d", "y", 2)]
    counts = out.group_by("item_id").len()
    assert counts.get_column("len").min() >= 2


def test_k_core_empty_raises_with_source():
    frame = log([("a", "x", 1), ("b", "y", 2)])
    with pytest.raises(EmptyDataError, match="source=shop.parquet"):
        k_core(frame, 2, 2, source="shop.parquet")


def test_positions_sort_by_time_and_keep_ties_in_source_order():
    frame = log([("a", "late", 9), ("a", "tie1", 5), ("a", "tie2", 5), ("b", "only", 1)])
    out = add_positions(frame.lazy()).collect()
    assert out.filter(pl.col("user_id") == "a").get_column("item_id").to_list() == ["tie1", "tie2", "late"]
    assert out.get_column(POSITION).to_list() == [0, 1, 2, 0]


def test_sessionize_by_gap():
    frame = log([("a", "x", 0), ("a", "y", 100), ("a", "z", 2000), ("a", "w", 2100), ("b", "x", 50)])
    out = sessionize(add_positions(frame.lazy()), gap_seconds=1800).collect()
    assert out.get_column("session_id").to_list() == ["a:0", "a:0", "a:1", "a:1", "b:0"]


def test_sessionize_keeps_existing_sessions_unless_overwritten():
    frame = log([("a", "x", 0), ("a", "y", 5000)]).with_columns(pl.lit("s1").alias("session_id"))
    kept = sessionize(frame.lazy()).collect().get_column("session_id").to_list()
    redone = sessionize(frame.lazy(), overwrite=True).collect().get_column("session_id").to_list()
    assert kept == ["s1", "s1"] and redone == ["a:0", "a:1"]
