"""Parity proof: the scripted (``scorer.pt``) and exported (``scorer.pt2``) scorers, reloaded from the
bundle, give the eager model's top-10 (identical indices, scores within 1e-5) on 1,000 random and 1,000
real histories, at batch sizes and history lengths never used while exporting."""

from __future__ import annotations

import pytest
import torch

from tests.export.conftest import MAX_LEN
from xsell.data.datasets import evaluation_targets
from xsell.data.prepared import PreparedData
from xsell.export.bundle import reference
from xsell.export.parity import check_parity, compare_topk, cut_histories, random_histories
from xsell.export.programs import EXPORT_EXAMPLE_SHAPE, to_exported_program, to_torchscript
from xsell.export.scorer import TopKScorer

ATOL = 1e-5
K = 10
# (batch, length) of the random batches: 1,000 histories; none is the export example's shape (3, 7).
RANDOM_SHAPES = [(1, 1), (1, MAX_LEN), (2, 5), (5, MAX_LEN + 9), (64, 11), (127, MAX_LEN), (800, 23)]
REAL_SHAPES = [(1, MAX_LEN), (37, 13), (462, MAX_LEN), (500, MAX_LEN + 6)]  # (batch, length) of real histories


def random_batches(num_items: int, context: dict[str, int], seed: int = 0) -> list[dict[str, torch.Tensor]]:
    return random_histories(num_items, RANDOM_SHAPES, context=context, seed=seed)


def real_batches(data: PreparedData, context: dict[str, int]) -> list[dict[str, torch.Tensor]]:
    """Validation and test histories of the synthetic shop (1,000), cut or left-padded to other lengths."""
    sets = (evaluation_targets(data, "validation"), evaluation_targets(data, "test"))
    columns = {name: torch.cat([getattr(s, name) for s in sets]) for name in ("items", *context)}
    return cut_histories(columns, data.num_items, REAL_SHAPES)


def compiled(exported) -> dict:
    """The bundle's two serving formats, loaded from disk."""
    return {"scorer.pt": exported.bundle.scorer, "scorer.pt2": exported.program}


def assert_parity(results) -> None:
    for name, result in results.items():
        assert result.index_mismatches == 0, (name, result)
        assert result.max_abs_diff <= ATOL, (name, result)


def test_shapes_differ_from_the_export_example(exported):
    example = tuple(exported.bundle.manifest["scorer"]["export_example_shape"])
    assert example == EXPORT_EXAMPLE_SHAPE
    assert example not in RANDOM_SHAPES and example not in REAL_SHAPES


def sample(exported, batches: list) -> list:
    """All 1,000 histories for the three models; the slower hybrid SASRec skips the largest batch."""
    return batches[:-1] if exported.hybrid else batches


def test_parity_on_random_histories(exported):
    batches = random_batches(exported.data.num_items, exported.context)
    assert sum(len(b["items"]) for b in batches) == 1000
    assert any((b["items"] == 0).all(1).any() for b in batches)  # empty histories are covered
    results = check_parity(compiled(exported), reference(exported.eager_scorer()), sample(exported, batches), K)
    assert_parity(results)
    assert results["scorer.pt"].rows == (200 if exported.hybrid else 1000)


def test_parity_on_real_histories(exported):
    batches = real_batches(exported.data, exported.context)
    results = check_parity(compiled(exported), reference(exported.eager_scorer()), sample(exported, batches), K)
    assert_parity(results)
    assert results["scorer.pt2"].rows == (500 if exported.hybrid else 1000)


@pytest.mark.parametrize("k", [1, 3, 5000])
def test_parity_for_other_k(exported, k):
    """``k`` is dynamic in the exported program: 1, small, and more than the catalog (clipped to N)."""
    batches = random_batches(exported.data.num_items, exported.context, seed=1)[:4]
    results = check_parity(compiled(exported), reference(exported.eager_scorer()), batches, k)
    assert_parity(results)
    assert results["scorer.pt"].k == min(k, exported.data.num_items)


def test_both_formats_share_one_contract_beyond_the_recommendable_items(exported):
    """``exclude`` left out in both formats, ``k`` beyond the catalog: the same lists as the reference, whose
    slots past the recommendable items are (0, -inf); never a history, padding or unknown item with a score."""
    batch = random_batches(exported.data.num_items, exported.context, seed=3)[3]  # 5 rows, some empty
    items, context = batch["items"], {name: batch[name] for name in exported.context}
    num_items = exported.data.num_items
    expected = reference(exported.eager_scorer())(items, num_items + 5, None, **context)
    for name, scorer in compiled(exported).items():
        indices, scores = scorer(items, num_items + 5, None, **context)
        assert compare_topk(expected, (indices, scores)).ok(ATOL), name
        empty = scores == float("-inf")  # [B, N]
        assert empty.any(1).all() and (indices[empty] == 0).all() and (indices[~empty] >= 2).all(), name
        for row, history in enumerate(items.tolist()):
            assert not set(indices[row][~empty[row]].tolist()) & set(history), name


def test_eager_scorer_matches_the_reference(exported):
    """The uncompiled TopKScorer (fitting histories to max_len, one extra padding row) ranks like the model."""
    batches = random_batches(exported.data.num_items, exported.context, seed=2)[:5]
    scorer = exported.eager_scorer()
    assert_parity(check_parity({"eager": scorer}, reference(scorer), batches, K))


def test_programs_compile_from_an_eager_scorer(shop):
    """The compile helpers on their own, with a model that has never been through a bundle."""
    from tests.export.conftest import build

    scorer = TopKScorer(build("gru4rec", shop), shop.item_counts())
    items = torch.tensor([[0, 0, 5, 9], [0, 0, 0, 0]])
    exclude = torch.zeros(2, shop.num_items, dtype=torch.bool)
    expected = scorer(items, 4, exclude)
    for compiled in (to_torchscript(scorer), to_exported_program(scorer).module()):
        indices, scores = compiled(items, 4, exclude)
        assert torch.equal(indices, expected[0]) and torch.allclose(scores, expected[1], atol=ATOL)
