"""The eager reference and the top-k comparison, on known answers."""

from __future__ import annotations

import pytest
import torch

from tests.export.toy import COUNTS, LastItem
from xsell.export.parity import (
    Parity,
    check_parity,
    compare_topk,
    cut_histories,
    eager_topk,
    merge,
    random_histories,
)
from xsell.export.scorer import popularity_prior

INF = float("-inf")


def test_eager_reference_known_answers():
    model, prior = LastItem(), popularity_prior(COUNTS)
    items = torch.tensor([[0, 0, 0, 2], [0, 0, 0, 0], [0, 7, 3, 2]])
    indices, scores = eager_topk(model, prior, items, 2)
    assert indices.tolist() == [[3, 5], [3, 4], [5, 4]]  # history, prior, history incl. an unknown index
    assert scores[0].tolist() == pytest.approx([0.9, 0.5])
    exclude = torch.zeros(3, 6, dtype=torch.bool)
    exclude[0, 3] = True
    assert eager_topk(model, prior, items, 1, exclude)[0].tolist() == [[5], [3], [5]]
    assert eager_topk(model, prior, items[:1], 1, exclude_history=False)[0].tolist() == [[2]]


def test_compare_identical_swapped_and_infinite():
    reference = (torch.tensor([[3, 5, 4]]), torch.tensor([[0.9, 0.5, INF]]))
    assert compare_topk(reference, reference) == Parity(rows=1, k=3, index_mismatches=0, max_abs_diff=0.0)
    swapped = (torch.tensor([[5, 3, 4]]), torch.tensor([[0.9, 0.5 + 2e-6, INF]]))
    result = compare_topk(reference, swapped)
    assert result.index_mismatches == 2 and result.max_abs_diff == pytest.approx(2e-6, rel=0.05)  # float32
    assert not result.ok() and Parity(1, 3, 0, 2e-6).ok(1e-5) and not Parity(1, 3, 0, 2e-5).ok(1e-5)
    finite = (reference[0], torch.tensor([[0.9, 0.5, 0.0]]))
    assert compare_topk(reference, finite).max_abs_diff == float("inf")
    with pytest.raises(ValueError, match="shapes differ"):
        compare_topk(reference, (reference[0][:, :2], reference[1][:, :2]))


def test_swap_within_a_tie_is_not_a_mismatch():
    """Near-equal scores (float rounding) may come out in either order; an item the reference ranks far
    lower, or not at all, is still a mismatch."""
    reference = (torch.tensor([[3, 5, 4]]), torch.tensor([[0.9, 0.5, 0.5 - 5e-7]]))
    tie_swapped = (torch.tensor([[3, 4, 5]]), torch.tensor([[0.9, 0.5, 0.5 - 5e-7]]))
    assert compare_topk(reference, tie_swapped).index_mismatches == 0
    assert compare_topk(reference, tie_swapped, tie_atol=1e-7).index_mismatches == 2
    unranked = (torch.tensor([[3, 5, 7]]), reference[1])
    assert compare_topk(reference, unranked).index_mismatches == 1


def test_merge_and_check_parity():
    assert merge([Parity(2, 10, 0, 1e-7), Parity(3, 10, 1, 0.0)]) == Parity(5, 10, 1, 1e-7)
    model, prior = LastItem(), popularity_prior(COUNTS)

    def reference(items, k, exclude=None):
        return eager_topk(model, prior, items, k, exclude)

    def shifted(items, k, exclude=None):
        indices, scores = reference(items, k, exclude)
        return indices, scores + 1e-3

    batches = [{"items": torch.tensor([[0, 0, 0, 2]]), "exclude": torch.zeros(1, 6, dtype=torch.bool)}] * 2
    results = check_parity({"same": reference, "shifted": shifted}, reference, batches, 3)
    assert results["same"] == Parity(2, 3, 0, 0.0)
    assert results["shifted"].index_mismatches == 0 and results["shifted"].max_abs_diff == pytest.approx(1e-3, rel=0.01)


def test_cut_histories_cuts_or_pads_consecutive_rows():
    items = torch.tensor([[0, 5, 6, 7], [8, 9, 10, 11], [0, 0, 0, 4]])
    first, second = cut_histories({"items": items, "events": items.clamp(max=2)}, 12, [(1, 2), (2, 6)])
    assert first["items"].tolist() == [[6, 7]] and first["events"].tolist() == [[2, 2]]
    assert second["items"].tolist() == [[0, 0, 8, 9, 10, 11], [0, 0, 0, 0, 0, 4]]
    assert second["exclude"].shape == (2, 12) and not second["exclude"].any()
    with pytest.raises(ValueError, match="4 rows asked, 3 given"):
        cut_histories({"items": items}, 12, [(4, 2)])


def test_random_histories_cover_the_serving_edge_cases():
    batches = random_histories(50, [(200, 9), (3, 1)], context={"events": 5}, seed=0)
    items = batches[0]["items"]
    assert [tuple(b["items"].shape) for b in batches] == [(200, 9), (3, 1)]
    assert (items == 0).all(1).any() and (items == 1).any() and (items >= 50).any()  # empty, unknown, outside
    assert ((items == 0) | (items >= 1)).all() and (batches[0]["events"][items == 0] == 0).all()
    assert batches[0]["exclude"].any() and batches[0]["events"].max() < 5
    assert torch.equal(random_histories(50, [(200, 9)], seed=0)[0]["items"], items)
