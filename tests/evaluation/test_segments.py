import polars as pl
import pytest

from xsell.evaluation.report import target_batches
from xsell.evaluation.segments import (
    by_context_column,
    by_history_length,
    by_last_event,
    by_target_event,
    by_user_column,
    segment_metrics,
    users_by_index,
)
from xsell.evaluation.table import rank_table

from .tiny import USERS, oracle, tiny_module


@pytest.fixture(scope="module")
def setup():
    dm = tiny_module()
    batches, rows = target_batches(dm.test_set, dm.eval_batch_size)
    return dm.prepared, rank_table(oracle(dm.prepared.num_items), batches, k=3, rows=rows)


def summary(frame: pl.DataFrame) -> list[tuple]:
    column = frame.columns[0]
    return frame.select(pl.col(column).cast(pl.String), "count", "recall@10", "ndcg@10", "mrr@10").rows()


def test_by_history_length(setup):
    _, table = setup
    frame = by_history_length(table)
    # a (2 events, unknown target: miss) and b (3) in 2-4; c (5) in 5-9; d (11 > max_len 5) in 10-19
    assert summary(frame) == [("2-4", 2, 0.5, 0.5, 0.5), ("5-9", 1, 1.0, 1.0, 1.0), ("10-19", 1, 1.0, 1.0, 1.0)]
    assert frame.get_column("share").to_list() == [0.5, 0.25, 0.25]
    assert frame.row(0, named=True)["recall@10_low"] == 0.0 and frame.row(0, named=True)["recall@10_high"] == 1.0
    assert frame.row(1, named=True)["ndcg@10_low"] == 1.0 and frame.row(1, named=True)["ndcg@10_high"] == 1.0


def test_by_event_types(setup):
    data, table = setup
    assert summary(by_last_event(table, data.log.event_types)) == [("view", 2, 1.0, 1.0, 1.0),
                                                                  ("cart", 2, 0.5, 0.5, 0.5)]
    assert summary(by_target_event(table, data.log.event_types)) == [
        ("view", 1, 1.0, 1.0, 1.0), ("cart", 1, 1.0, 1.0, 1.0), ("purchase", 2, 0.5, 0.5, 0.5)]


def test_by_user_column_maps_ids_through_the_vocabulary(setup):
    data, table = setup
    users = users_by_index(USERS, data.log.user_vocab)
    assert set(users.columns) == {"user", "group"}
    frame = by_user_column(table, users, "group")
    assert summary(frame) == [("x", 2, 0.5, 0.5, 0.5), ("y", 1, 1.0, 1.0, 1.0), (None, 1, 1.0, 1.0, 1.0)]  # d: no row
    with pytest.raises(ValueError, match="duplicate user indices"):
        by_user_column(table, pl.concat([users, users]), "group")


def test_by_context_column_of_the_target_event(setup):
    data, table = setup
    frame = by_context_column(table, data.split.events, "device")
    assert summary(frame) == [("desktop", 3, 1.0, 1.0, 1.0), ("mobile", 1, 0.0, 0.0, 0.0)]  # a's target: unknown


def test_segment_means_weighted_by_count_give_the_overall_mean(setup):
    _, table = setup
    for frame in (by_history_length(table, k=1), by_last_event(table, k=1)):
        overall = (frame.get_column("count") * frame.get_column("recall@1")).sum() / table.height
        assert overall == pytest.approx(0.75)


def test_any_expression_and_metric_set(setup):
    _, table = setup
    frame = segment_metrics(table, (pl.col("user") % 2).alias("parity"), k=5, metrics=("hit", "precision"))
    assert frame.columns == ["parity", "count", "share", "hit@5", "hit@5_low", "hit@5_high",
                             "precision@5", "precision@5_low", "precision@5_high"]
    assert frame.get_column("count").sum() == 4


def test_history_bucket_boundaries():
    from xsell.evaluation.segments import HISTORY_BUCKETS, history_bucket

    lengths = pl.DataFrame({"history_length": [0, 1, 2, 4, 5, 9, 10, 19, 20, 49, 50, 300]})
    buckets = lengths.select(history_bucket()).to_series()
    assert buckets.to_list() == ["0", "1", "2-4", "2-4", "5-9", "5-9", "10-19", "10-19", "20-49", "20-49",
                                 "50+", "50+"]
    assert buckets.dtype == pl.Enum(HISTORY_BUCKETS)
