"""Behavioural segments on hand-made logs with known recency, frequency, monetary value and breadth."""

from __future__ import annotations

import polars as pl
import pytest

from xsell.data.datamodule import SequenceDataModule
from xsell.data.interactions import Interactions
from xsell.data.segmentation import (
    SEGMENT_COLUMN,
    BehaviouralSegments,
    behaviour_table,
    kmeans_segments,
    quantile_segments,
)
from xsell.errors import EmptyDataError

ITEMS = pl.DataFrame({"item_id": ["tv", "cable", "book", "pen"], "price": [500.0, 10.0, 20.0, 2.0],
                      "category": ["video", "video", "paper", "paper"]})
# a: heavy, recent, big spender over two categories; b: one old purchase; c: browses only, recent-ish.
EVENTS = pl.DataFrame({
    "user_id": ["a", "a", "a", "a", "a", "b", "b", "c", "c", "c"],
    "item_id": ["tv", "tv", "cable", "book", "pen", "book", "book", "pen", "pen", "book"],
    "timestamp": [10, 20, 30, 90, 100, 1, 2, 50, 60, 70],
    "event": ["view", "purchase", "purchase", "view", "purchase", "view", "purchase", "view", "view", "view"],
})


def test_behaviour_table_known_answers():
    table = behaviour_table(EVENTS.lazy(), ITEMS)
    assert table.get_column("user_id").to_list() == ["a", "b", "c"]
    assert table.get_column("recency").to_list() == [0.0, 98.0, 30.0]  # to the log's last timestamp (100)
    assert table.get_column("frequency").to_list() == [5.0, 2.0, 3.0]
    assert table.get_column("monetary").to_list() == [512.0, 20.0, 0.0]  # purchases only
    assert table.get_column("breadth").to_list() == [2.0, 1.0, 1.0]  # c: pen and book are both paper
    without_items = behaviour_table(EVENTS, now=200)
    assert "monetary" not in without_items.columns
    assert without_items.get_column("breadth").to_list() == [4.0, 1.0, 2.0]  # distinct items
    assert without_items.get_column("recency").to_list() == [100.0, 198.0, 130.0]


def test_quantile_rules_score_each_metric():
    labels = quantile_segments(behaviour_table(EVENTS, ITEMS), bins=3).to_list()
    # recency rank (most recent best): a 3, c 2, b 1; frequency: a 3, c 2, b 1; monetary: a 3, b 2, c 1;
    # breadth: a 3, b and c tie (average rank 1.5 of 3 -> score ceil(1.5) = 2)
    assert labels == ["r3f3m3b3", "r1f1m2b2", "r2f2m1b2"]


def test_kmeans_separates_the_heavy_user_and_is_seeded():
    table = pl.concat([behaviour_table(EVENTS, ITEMS)] * 3).with_row_index("n").with_columns(
        pl.concat_str(pl.col("user_id"), pl.col("n").cast(pl.String)).alias("user_id")).drop("n")
    first = kmeans_segments(table, k=2, seed=0)
    assert first.to_list() == kmeans_segments(table, k=2, seed=0).to_list()
    heavy = table.get_column("user_id").str.starts_with("a").to_list()
    # the heavy user's copies form the cluster with the higher mean frequency: label k1
    assert [label == "k1" for label in first.to_list()] == heavy
    with pytest.raises(ValueError, match="between 1 and the number of users"):
        kmeans_segments(table, k=10)


def test_empty_log_is_a_clear_error():
    with pytest.raises(EmptyDataError, match="empty"):
        behaviour_table(EVENTS.head(0), ITEMS)


def test_datamodule_segments_from_training_events_only():
    module = SequenceDataModule(Interactions(EVENTS, items=ITEMS), max_len=4,
                                segments=BehaviouralSegments(method="quantile"), user_features=[SEGMENT_COLUMN])
    module.setup()
    users = module.prepared.interactions.users.sort("user_id")
    # leave-one-out after dedupe: training keeps a: tv, tv, cable; b: both events (too short to split); c: pen.
    training = module.prepared.split.train
    assert behaviour_table(training, ITEMS).get_column("monetary").to_list() == [510.0, 20.0, 0.0]
    # recency to the last *training* timestamp (50): c is the most recent; a's later events are not seen
    assert users.get_column(SEGMENT_COLUMN).to_list() == ["r2f3m3b2", "r1f2m2b2", "r3f1m1b2"]
    assert module.prepared.user_specs[0].name == SEGMENT_COLUMN
    batch = module.test_set[list(range(len(module.test_set)))]
    assert batch.user_features.shape == (len(module.test_set), 1) and (batch.user_features >= 2).all()


def test_behavioural_segment_is_an_evaluation_slice():
    from xsell.baselines import MostPopular
    from xsell.evaluation.report import evaluate

    module = SequenceDataModule(Interactions(EVENTS, items=ITEMS), max_len=4,
                                segments=BehaviouralSegments(method="quantile"))
    module.setup()
    data = module.prepared
    report = evaluate(MostPopular().fit(data.log).score, data, ks=(10,), user_columns=[SEGMENT_COLUMN])
    table = report.segments[SEGMENT_COLUMN]
    assert sorted(table.get_column(SEGMENT_COLUMN).to_list()) == ["r2f3m3b2", "r3f1m1b2"]  # a and c are tested
    assert table.get_column("count").sum() == len(module.test_set)
