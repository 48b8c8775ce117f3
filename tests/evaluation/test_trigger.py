"""Trigger-point evaluation on a hand-made log whose windows and ranks are worked out on paper.

Temporal split at day 100: user z (training only) views every item so that all are known; afterwards

user  day  event     item        window targets (purchases), 14 days          within 1 event
b     50   view      i3 (training)
b     101  cart      i4          [i4] (same second)                           [i4]
b     101  purchase  i4          []
a     101  cart      i0          [i2] (day 105; i3 at day 120 is too late)    [] (next event is a view)
a     102  view      i1          (not a trigger)
a     105  purchase  i2          [] (i3 comes 15 days later)                  [i3]
a     120  purchase  i3          []
c     101  cart      i1          [i5, i3] (i5 again at day 104: once)         [i5]

The scorer gives every row the same scores: i3 5, i2 4, i1 3, i4 3, i0 1, i5 0, so the pessimistic
ranks are i3 1, i2 2, i1 4, i4 4 (tied with i1), i0 5, i5 6.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from xsell.data.interactions import Interactions
from xsell.data.prepared import PreparedData, prepare
from xsell.evaluation.trigger import TriggerWindow

DAY = 86_400
_LOG = [("z", d, "view", f"i{d - 1}") for d in range(1, 7)] + [("z", 7, "view", "i0"),  # z's validation target

    ("b", 50, "view", "i3"), ("b", 101, "cart", "i4"), ("b", 101, "purchase", "i4"),
    ("a", 101, "cart", "i0"), ("a", 102, "view", "i1"), ("a", 105, "purchase", "i2"), ("a", 120, "purchase", "i3"),
    ("c", 101, "cart", "i1"), ("c", 102, "purchase", "i5"), ("c", 103, "purchase", "i3"), ("c", 104, "purchase", "i5"),
]
SCORES = {"i3": 5.0, "i2": 4.0, "i1": 3.0, "i4": 3.0, "i0": 1.0, "i5": 0.0}


@pytest.fixture(scope="module")
def shop() -> PreparedData:
    events = pl.DataFrame([{"user_id": u, "timestamp": d * DAY + i, "event": e, "item_id": item}
                           for i, (u, d, e, item) in enumerate(_LOG)])
    return prepare(Interactions(events, name="triggers"), split="temporal", cutoff=100 * DAY, max_len=4,
                   drop_duplicates=False)


def fixed(data: PreparedData):
    vector = torch.zeros(data.num_items)
    for item, value in SCORES.items():
        vector[data.log.item_vocab.index(item)] = value
    return lambda batch: vector.expand(len(batch), -1).clone()


def by_trigger(data: PreparedData, table: pl.DataFrame) -> dict[tuple[str, int, str], object]:
    """``(user, day, item, event) -> row`` of a trigger table."""
    events = data.split.events
    out = {}
    for row in table.iter_rows(named=True):
        event = events.row(row["trigger"], named=True)
        out[(event["user_id"], event["timestamp"] // DAY, event["item_id"], event["event"])] = row
    return out


def names(data, items) -> list[str]:
    return data.log.item_vocab.decode(items)


def test_windows_in_days_and_in_events(shop):
    timestamps = shop.split.events.get_column("timestamp").to_numpy()
    days = by_trigger(shop, TriggerWindow(window_days=14).points(shop.log, timestamps))
    assert {key: names(shop, row["targets"]) for key, row in days.items()} == {
        ("b", 101, "i4", "cart"): ["i4"], ("b", 101, "i4", "purchase"): [], ("a", 101, "i0", "cart"): ["i2"],
        ("a", 105, "i2", "purchase"): [], ("a", 120, "i3", "purchase"): [], ("c", 101, "i1", "cart"): ["i5", "i3"],
        ("c", 102, "i5", "purchase"): ["i3", "i5"], ("c", 103, "i3", "purchase"): ["i5"], ("c", 104, "i5", "purchase"): []}
    assert names(shop, by_trigger(shop, TriggerWindow(window_days=15.01).points(shop.log, timestamps))[
        ("a", 105, "i2", "purchase")]["targets"]) == ["i3"]
    events = by_trigger(shop, TriggerWindow(window_events=1, window_days=None, triggers=("cart",)).points(
        shop.log, timestamps))
    assert {key: names(shop, row["targets"]) for key, row in events.items()} == {
        ("b", 101, "i4", "cart"): ["i4"], ("a", 101, "i0", "cart"): [], ("c", 101, "i1", "cart"): ["i5"]}
    both = by_trigger(shop, TriggerWindow(window_events=2, window_days=0.5, triggers=("cart",)).points(
        shop.log, timestamps))  # i5 at day 102 is 2 events but 1 day after c's cart
    assert names(shop, both[("c", 101, "i1", "cart")]["targets"]) == []


def test_new_items_only_drops_what_the_user_already_touched(shop):
    timestamps = shop.split.events.get_column("timestamp").to_numpy()
    rows = by_trigger(shop, TriggerWindow(window_days=14, new_items_only=True).points(shop.log, timestamps))
    assert names(shop, rows[("b", 101, "i4", "cart")]["targets"]) == []  # buying the carted item is no cross-sell
    assert names(shop, rows[("a", 101, "i0", "cart")]["targets"]) == ["i2"]
    assert names(shop, rows[("c", 102, "i5", "purchase")]["targets"]) == ["i3"]  # i5 again: seen at the trigger


def test_window_hits_with_pessimistic_ties(shop):
    result = TriggerWindow(triggers=("cart",), window_days=14).evaluate(fixed(shop), shop, ks=(1, 2, 3, 4),
                                                                         exclude_seen=False)
    rows = by_trigger(shop, result.table)
    # a: i2 rank 2; b: i4 rank 4 (tied with i1: ties go against it); c: [i5, i3], the best i3 rank 1
    assert {key: row["best_rank"] for key, row in rows.items()} == {
        ("a", 101, "i0", "cart"): 2, ("b", 101, "i4", "cart"): 4, ("c", 101, "i1", "cart"): 1}
    m = result.metrics
    assert (m["window_triggers"], m["window_triggers_with_target"], m["window_targets"]) == (3, 3, 4)
    assert [m[f"window_hit@{k}"] for k in (1, 2, 3, 4)] == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1.0])
    assert m["window_recall@1"] == pytest.approx((0 + 0 + 0.5) / 3)
    assert m["window_recall@4"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_seen_items_leave_the_ranking_but_never_the_target(shop):
    result = TriggerWindow(triggers=("cart",), window_days=14).evaluate(fixed(shop), shop, ks=(3,),
                                                                         exclude_seen=True)
    rows = by_trigger(shop, result.table)
    # b saw i3 (score 5) in training and carted i4: i3 leaves, i4 (a target in its own history) stays -> 3
    assert rows[("b", 101, "i4", "cart")]["best_rank"] == 3
    assert result.metrics["window_hit@3"] == 1.0


def test_no_window_and_unknown_events_are_clear_errors(shop):
    with pytest.raises(ValueError, match="window_events, window_days or both"):
        TriggerWindow(window_days=None)
    with pytest.raises(ValueError, match="unknown event type.*refund"):
        TriggerWindow(triggers=("refund",)).points(shop.log, np.zeros(len(shop.log), dtype=np.int64))
