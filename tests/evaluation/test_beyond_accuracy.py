"""Known answers computed by hand on a 6-item catalog (item indices 2..7; 0 padding, 1 unknown)."""

import math

import numpy as np
import polars as pl
import pytest

from xsell.data.schema import EventTypes
from xsell.data.sequences import EncodedLog
from xsell.data.vocabulary import Vocabulary
from xsell.evaluation import beyond_accuracy as ba

NUM_ITEMS = 8
LISTS = pl.Series("top_k", [[2, 3, 4], [3, 5], [], [6, 2, 3], [7, 2]], dtype=pl.List(pl.Int64))
LAST_ITEM = np.array([2, 5, 3, 0, 4])  # row 3 has no history
COUNTS = np.array([0, 0, 8, 4, 2, 1, 1, 0])  # 16 training events; item 7 never seen
CATEGORIES = np.array([-1, -1, 0, 0, 1, 1, 2, -1])  # item 7: unknown category
PAIRS = pl.DataFrame({"antecedent": [2, 2, 5, 4], "consequent": [3, 4, 3, 2], "count": [4, 4, 2, 2]})


def test_flatten_keeps_the_first_k_of_each_list():
    owner, items = ba.flatten_lists(LISTS, 2)
    assert owner.tolist() == [0, 0, 1, 1, 3, 3, 4, 4]
    assert items.tolist() == [2, 3, 3, 5, 6, 2, 7, 2]


def test_catalog_coverage():
    assert ba.catalog_coverage(LISTS, 3, NUM_ITEMS) == 1.0  # every item 2..7
    assert ba.catalog_coverage(LISTS, 2, NUM_ITEMS) == pytest.approx(5 / 6)  # 2, 3, 5, 6, 7: not 4
    assert ba.catalog_coverage(LISTS, 1, NUM_ITEMS) == pytest.approx(4 / 6)  # 2, 3, 6, 7


def test_novelty():
    # bits: item 2 -> 1, 3 -> 2, 4 -> 3, 5 -> 4, 6 -> 4, 7 (never seen, counted once) -> 4
    assert ba.self_information(COUNTS)[2:].tolist() == [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]
    per_list = ba.novelty_per_list(LISTS, 3, COUNTS)
    assert per_list[[0, 1, 3, 4]].tolist() == pytest.approx([2.0, 3.0, 7 / 3, 2.5])
    assert math.isnan(per_list[2])  # an empty list has no novelty
    assert ba.novelty(LISTS, 3, COUNTS) == pytest.approx((2 + 3 + 7 / 3 + 2.5) / 4)
    assert ba.novelty(LISTS, 1, COUNTS) == pytest.approx((1 + 2 + 4 + 4) / 4)
    with pytest.raises(ValueError, match="sum to zero"):
        ba.novelty(LISTS, 3, np.zeros(NUM_ITEMS))


def test_intra_list_diversity():
    # [0, 0, 1] -> 2 of 3 pairs differ; [0, 1] -> 1; [] -> undefined; [2, 0, 0] -> 2/3; [unknown, 0] -> undefined
    per_list = ba.diversity_per_list(LISTS, 3, CATEGORIES)
    assert per_list[[0, 1, 3]].tolist() == pytest.approx([2 / 3, 1.0, 2 / 3])
    assert np.isnan(per_list[[2, 4]]).all()
    assert ba.intra_list_diversity(LISTS, 3, CATEGORIES) == pytest.approx(7 / 9)
    assert math.isnan(ba.intra_list_diversity(LISTS, 1, CATEGORIES))  # one item: no pair anywhere
    same = pl.Series([[2, 3], [4, 5]], dtype=pl.List(pl.Int64))
    assert ba.intra_list_diversity(same, 2, CATEGORIES) == 0.0


def test_complement_rate():
    # row 0: last item 2 (cat 0), list cats [0, 0, 1] -> 1/3; row 1: last 5 (cat 1), [0, 1] -> 1/2;
    # row 2: empty list; row 3: no history; row 4: last 4 (cat 1), [unknown, 0] -> 1/1
    per_list = ba.complement_rate_per_list(LISTS, 3, LAST_ITEM, CATEGORIES)
    assert per_list[[0, 1, 4]].tolist() == pytest.approx([1 / 3, 0.5, 1.0])
    assert np.isnan(per_list[[2, 3]]).all()
    assert ba.complement_rate(LISTS, 3, LAST_ITEM, CATEGORIES) == pytest.approx((1 / 3 + 0.5 + 1.0) / 3)
    # k = 1: row 0 stays in category 0, row 1 moves from 1 to 0, row 4's first item has no category
    assert ba.complement_rate(LISTS, 1, LAST_ITEM, CATEGORIES) == 0.5
    with pytest.raises(ValueError, match="last_item has 2 entries for 5 lists"):
        ba.complement_rate(LISTS, 3, LAST_ITEM[:2], CATEGORIES)


def test_association_lift():
    # T = 12; margins n_a: 2 -> 8, 5 -> 2, 4 -> 2; n_b: 3 -> 6, 4 -> 4, 2 -> 2.
    # row 0 (last 2): (2,2) never seen -> 0, (2,3) 4*12/(8*6) = 1, (2,4) 4*12/(8*4) = 1.5 -> 5/6
    # row 1 (last 5): (5,3) 2*12/(2*6) = 2, (5,5) undefined (5 never a consequent) -> 2
    # row 4 (last 4): (4,7) undefined, (4,2) 2*12/(2*2) = 6 -> 6; rows 2 and 3 undefined
    per_list = ba.lift_per_list(LISTS, 3, LAST_ITEM, PAIRS)
    assert per_list[[0, 1, 4]].tolist() == pytest.approx([5 / 6, 2.0, 6.0])
    assert np.isnan(per_list[[2, 3]]).all()
    assert ba.association_lift(LISTS, 3, LAST_ITEM, PAIRS) == pytest.approx((5 / 6 + 2 + 6) / 3)
    assert ba.association_lift(LISTS, 1, LAST_ITEM, PAIRS) == pytest.approx((0 + 2) / 2)


def test_category_lift_uses_the_key():
    # category pairs: (0 -> 0): 3, (0 -> 1): 1, (1 -> 0): 2; T = 6, n_a: 0 -> 4, 1 -> 2; n_b: 0 -> 5, 1 -> 1
    pairs = pl.DataFrame({"antecedent": [0, 0, 1], "consequent": [0, 1, 0], "count": [3, 1, 2]})
    lists = pl.Series([[3, 4]], dtype=pl.List(pl.Int64))  # last item 2 (cat 0): (0,0) 3*6/20, (0,1) 1*6/4
    assert ba.association_lift(lists, 2, np.array([2]), pairs, CATEGORIES) == pytest.approx((0.9 + 1.5) / 2)


def test_transition_counts_use_consecutive_training_events_of_one_user():
    vocab = Vocabulary([f"i{i}" for i in range(6)])
    log = EncodedLog(
        user=np.array([0, 0, 0, 0, 1, 1, 1], dtype=np.int32),
        item=np.array([2, 3, 2, 4, 3, 2, 5], dtype=np.int32),
        event=np.ones(7, dtype=np.int8), time_gap=np.ones(7, dtype=np.int8),
        part=np.array([0, 0, 0, 2, 0, 0, 1], dtype=np.int8),
        user_start=np.array([0, 0, 0, 0, 4, 4, 4]), item_vocab=vocab, user_vocab=vocab,
        event_types=EventTypes(), has_events=False,
    )
    # user 0: 2->3, 3->2 (2->4 reaches a test target); user boundary 4->3 skipped; user 1: 3->2
    assert ba.transition_counts(log).to_dicts() == [
        {"antecedent": 2, "consequent": 3, "count": 1}, {"antecedent": 3, "consequent": 2, "count": 2}]
    assert ba.transition_counts(log, CATEGORIES).to_dicts() == [{"antecedent": 0, "consequent": 0, "count": 3}]


def test_item_category_codes_follow_the_vocabulary():
    items = pl.DataFrame({"item_id": ["a", "b", "c", "z"], "category": ["tv", "cam", "tv", None]})
    codes, names = ba.item_category_codes(items, Vocabulary(["b", "a", "y", "z"]))
    assert names == ["cam", "tv"]
    assert codes.tolist() == [-1, -1, 0, 1, -1, -1]  # pad, unknown, b, a, y (no row), z (null category)
    with pytest.raises(ValueError, match="no 'brand' column"):
        ba.item_category_codes(items, Vocabulary(["a"]), "brand")


def test_out_of_range_items_are_a_clear_error():
    with pytest.raises(ValueError, match="outside the category table"):
        ba.intra_list_diversity(pl.Series([[2, 9]], dtype=pl.List(pl.Int64)), 2, CATEGORIES)
