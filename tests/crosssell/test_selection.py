"""List rules on the hand-made shop (tests/crosssell/shop.py): scores jk1 7 > jk2 6 > gl1 5 > gl2 4 > hat 3 >
sc1 2 > ghost 1 (ghost has no category)."""

from __future__ import annotations

import pytest
import torch

from tests.crosssell.shop import FLAT, GHOST, GL1, GL2, HAT, JK1, JK2, SC1, catalog, scores
from xsell.crosssell.selection import CategoryCap, CategoryMMR, greedy_top_k, relevance


def test_category_cap_allows_at_most_n_per_category():
    c = catalog()
    assert greedy_top_k(scores(FLAT), [CategoryCap(c, max_per_category=1, k=5)], 5).tolist() == [
        [JK1, GL1, HAT, SC1, GHOST]]
    assert greedy_top_k(scores(FLAT), [CategoryCap(c, max_per_category=2, k=5)], 5).tolist() == [
        [JK1, JK2, GL1, GL2, HAT]]
    # once every category is full only the uncategorised ghost is left, then nothing (-1)
    assert greedy_top_k(scores(FLAT), [CategoryCap(c, max_per_category=1)], 7).tolist() == [
        [JK1, GL1, HAT, SC1, GHOST, -1, -1]]


def test_category_mmr_trades_relevance_for_new_categories():
    c = catalog()
    # relevance (s - 1) / 6: jk1 1, jk2 5/6, gl1 4/6, gl2 3/6, hat 2/6, sc1 1/6, ghost 0; lam 0.5 pays 0.5
    # for a repeated category: slot 2 gl1 0.333 beats jk2 -0.083, slot 3 hat 0.167, slot 4 sc1 0.083,
    # slot 5 ghost 0 (no category: never redundant), slot 6 jk2 -0.083 before gl2 -0.25
    assert greedy_top_k(scores(FLAT), [CategoryMMR(c, lam=0.5)], 7).tolist() == [
        [JK1, GL1, HAT, SC1, GHOST, JK2, GL2]]
    assert greedy_top_k(scores(FLAT), [CategoryMMR(c, lam=1.0)], 7).tolist() == [[JK1, JK2, GL1, GL2, HAT, SC1, GHOST]]
    with pytest.raises(ValueError, match="lam"):
        CategoryMMR(c, lam=1.5)


def test_greedy_selection_skips_excluded_items_and_breaks_ties_by_index():
    row = scores([5.0, 5.0, 5.0, -float("inf"), 1.0, float("nan"), 5.0])
    row[0, :2] = 100.0  # padding and unknown are never served, whatever they score
    assert greedy_top_k(row, [CategoryCap(catalog(), max_per_category=1)], 6).tolist() == [
        [JK1, GL1, GHOST, HAT, -1, -1]]


def test_relevance_is_min_max_over_finite_scores():
    out = relevance(torch.tensor([[1.0, 3.0, -float("inf"), 2.0], [4.0, 4.0, 4.0, 4.0]]))
    assert out[0].tolist() == [0.0, 1.0, -float("inf"), 0.5]
    assert out[1].tolist() == [0.0, 0.0, 0.0, 0.0]
