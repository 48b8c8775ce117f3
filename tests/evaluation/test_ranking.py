import pytest
import torch

from xsell.data.batch import SequenceBatch
from xsell.evaluation.protocol import SCORE_ROWS, RankingEvaluation, evaluate_scorer
from xsell.evaluation.ranking import MISS, sampled_target_ranks, target_ranks

# Items 0 (padding) and 1 (unknown) get the highest scores: they must never count.
SCORES = torch.tensor([
    [9.0, 9.0, 1.0, 3.0, 3.0, 2.0],
    [9.0, 9.0, 1.0, 3.0, 3.0, 2.0],
    [9.0, 9.0, 4.0, 4.0, 4.0, 4.0],
])


def test_ranks_by_hand_with_pessimistic_ties():
    # row 0: target 3 ties with item 4 -> rank 2; row 1: target 5 is below items 3 and 4 -> rank 3;
    # row 2: every item ties -> the target ranks last of the 4 real items.
    assert target_ranks(SCORES, torch.tensor([3, 5, 2])).tolist() == [2, 3, 4]
    assert target_ranks(SCORES, torch.tensor([4, 2, 5])).tolist() == [2, 4, 4]


def test_unknown_target_always_misses():
    scores = torch.tensor([[0.0, 100.0, 1.0, 2.0]])
    assert target_ranks(scores, torch.tensor([1])).tolist() == [MISS]
    assert sampled_target_ranks(scores, torch.tensor([1]), torch.zeros(1, 1, dtype=torch.long), 2).tolist() == [MISS]


def test_sampled_ranks_need_enough_items():
    scores = torch.tensor([[0.0, 0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="at least 3 catalog items, got 2"):
        sampled_target_ranks(scores, torch.tensor([2]), torch.zeros(1, 1, dtype=torch.long), 3)


def test_excluding_seen_items_never_removes_the_target():
    # Row 1's history holds its own target 5 (twice) and item 3 twice; row 2 excludes only padding and unknown.
    exclude = torch.tensor([[3, 4, 0, 0], [3, 5, 3, 5], [0, 1, 0, 1]])
    before = SCORES.clone()
    assert target_ranks(SCORES, torch.tensor([5, 5, 2]), exclude).tolist() == [1, 2, 4]
    assert target_ranks(SCORES, torch.tensor([2, 4, 3]), exclude).tolist() == [2, 1, 4]
    assert torch.equal(SCORES, before)  # the scores are not modified


def test_constant_scores_earn_nothing():
    num_items = 14  # 12 real items
    batches = [
        SequenceBatch(items=torch.zeros(3, 2, dtype=torch.long), events=torch.zeros(3, 2, dtype=torch.long),
                      time_gaps=torch.zeros(3, 2, dtype=torch.long), target=torch.tensor(targets),
                      exclude=torch.zeros(3, 1, dtype=torch.long))
        for targets in ([2, 5, 13], [7, 8, 9])
    ]
    metrics = evaluate_scorer(lambda batch: torch.ones(len(batch), num_items), batches, ks=(10, 20))
    assert metrics["recall@10"] == 0.0 and metrics["ndcg@10"] == 0.0
    assert metrics["recall@20"] == 1.0  # every target ranks 12th
    assert metrics["mrr@20"] == pytest.approx(1 / 12)


def test_large_batches_are_scored_in_slices_with_the_same_metrics():
    generator = torch.Generator().manual_seed(0)
    rows, num_items = 2 * SCORE_ROWS + 7, 50
    scores = torch.randn(rows, num_items, generator=generator).round(decimals=1)  # rounded: ties happen
    batch = SequenceBatch(items=torch.arange(rows).unsqueeze(1), events=torch.zeros(rows, 1, dtype=torch.long),
                          time_gaps=torch.zeros(rows, 1, dtype=torch.long),
                          target=torch.randint(2, num_items, (rows,), generator=generator),
                          exclude=torch.randint(0, num_items, (rows, 4), generator=generator))
    seen = []

    def score(part: SequenceBatch) -> torch.Tensor:  # a row's scores follow the row, wherever it is cut
        seen.append(len(part))
        return scores[part.items[:, 0]]

    whole = RankingEvaluation(ks=(5, 10), exclude_seen=True)
    whole.update(scores, batch)
    sliced = evaluate_scorer(score, [batch], ks=(5, 10), exclude_seen=True)
    assert seen == [SCORE_ROWS, SCORE_ROWS, 7]
    assert sliced == pytest.approx(whole.compute(), rel=1e-12, abs=1e-15)
    assert sliced["recall@10"] > 0


def sampled_case():
    num_items = 300
    scores = -torch.arange(num_items, dtype=torch.float).expand(4, -1)  # item 2 best, then 3, ...
    targets = torch.tensor([50, 50, 150, 299])
    seen = torch.stack([torch.arange(2, 50), torch.arange(2, 50), torch.zeros(48, dtype=torch.long),
                        torch.arange(250, 298)])
    return scores, targets, seen


def test_sampled_ranks_are_reproducible_and_ignore_seen_items():
    scores, targets, seen = sampled_case()
    first = sampled_target_ranks(scores, targets, seen, 100, torch.Generator().manual_seed(7))
    again = sampled_target_ranks(scores, targets, seen, 100, torch.Generator().manual_seed(7))
    other = sampled_target_ranks(scores, targets, seen, 100, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first[2:], other[2:])
    # Rows 0 and 1 saw every item scored above their target: no sampled negative beats it (nor is the target
    # drawn as its own negative).
    assert first[:2].tolist() == [1, 1]
    assert (first >= 1).all() and (first <= 101).all()
    # Row 3's target is the worst unseen item: every negative beats it.
    assert first[3] == 101


def test_sampled_metrics_in_the_evaluation_are_reproducible():
    scores, targets, seen = sampled_case()
    batch = SequenceBatch(items=seen, events=seen, time_gaps=seen, target=targets, exclude=seen)
    evaluation = RankingEvaluation(ks=(10,), sampled_negatives=100, seed=3)
    evaluation.update(scores, batch)
    first = evaluation.compute()
    evaluation.reset()
    evaluation.update(scores, batch)
    assert evaluation.compute() == first
    assert {"recall@10", "sampled_recall@10", "sampled_ndcg@10"} <= set(first)
    assert "sampled_recall@10" not in RankingEvaluation(ks=(10,)).compute()


def test_a_batch_scored_in_one_piece_draws_the_negatives_of_sliced_scoring():
    generator = torch.Generator().manual_seed(0)
    rows, num_items = 2 * SCORE_ROWS + 7, 300  # three slices
    scores = torch.randn(rows, num_items, generator=generator)
    seen = torch.randint(2, num_items, (rows, 5), generator=generator)
    batch = SequenceBatch(items=seen, events=seen, time_gaps=seen, exclude=seen,
                          target=torch.randint(2, num_items, (rows,), generator=generator))
    row_scores = {tuple(history.tolist()): row for history, row in zip(seen, scores, strict=True)}
    assert len(row_scores) == rows

    def score(part: SequenceBatch) -> torch.Tensor:  # the same scores, looked up by the history
        return torch.stack([row_scores[tuple(history.tolist())] for history in part.items])

    sliced = RankingEvaluation(ks=(10,), sampled_negatives=20, seed=5)
    sliced.update_from(score, batch)
    whole = RankingEvaluation(ks=(10,), sampled_negatives=20, seed=5)
    whole.update_sampled(scores, batch)  # sampled ranks only: the caller ranks the full catalog itself
    expected = {key: value for key, value in sliced.compute().items() if key.startswith("sampled_")}
    assert whole.compute() == expected
    unsliced = RankingEvaluation(ks=(10,), sampled_negatives=20, seed=5)
    unsliced.update(scores, batch)  # one draw over all rows: other negatives
    assert unsliced.compute()["sampled_ndcg@10"] != whole.compute()["sampled_ndcg@10"]
    with pytest.raises(ValueError, match="sampled_negatives"):
        RankingEvaluation(ks=(10,)).update_sampled(scores, batch)


def test_unknown_target_misses_even_when_the_cutoff_exceeds_the_catalog():
    batch = SequenceBatch(items=torch.tensor([[2, 3]]), events=torch.tensor([[2, 2]]),
                          time_gaps=torch.tensor([[1, 1]]), target=torch.tensor([1]),
                          exclude=torch.tensor([[2, 3]]))
    metrics = evaluate_scorer(lambda b: torch.tensor([[0.0, 0.0, 1.0, 2.0]]), [batch], ks=(10,))
    assert metrics["recall@10"] == 0.0


def test_nan_score_is_a_miss():
    scores = torch.tensor([[0.0, 0.0, 1.0, float("nan"), 2.0]])
    rank = target_ranks(scores, torch.tensor([3]))
    assert rank.item() > 3


@pytest.mark.parametrize("num_items", [12, 5000])  # 12: the random stream suffices; 5000: it runs short (fallback)
def test_sampled_negatives_are_uniform_distinct_and_allowed(num_items):
    from xsell.evaluation.ranking import _random_subsets

    rows, size = 20000, 4
    allowed = torch.zeros(rows, num_items, dtype=torch.bool)
    allowed[:, 2:10] = True  # 8 allowed items per row ...
    allowed[: rows // 2, 6] = False  # ... 7 in the first half
    subsets = _random_subsets(allowed, size, torch.Generator().manual_seed(0))
    assert allowed.gather(1, subsets).all()
    assert (subsets.sort(1).values.diff(dim=1) > 0).all()  # no repeats within a row
    for half, allowed_items in ((subsets[: rows // 2], 7), (subsets[rows // 2:], 8)):
        share = torch.bincount(half.flatten(), minlength=num_items)[allowed[-1] | (torch.arange(num_items) == 6)]
        share = share[share > 0].double() / (rows // 2)
        assert len(share) == allowed_items
        assert torch.allclose(share, torch.full_like(share, size / allowed_items), atol=0.02)


@pytest.mark.parametrize("num_items", [8, 5000])  # 8: the weighted stream suffices; 5000: fallback (Gumbel keys)
def test_popularity_negatives_follow_the_weights(num_items):
    from xsell.evaluation.ranking import _random_subsets

    rows = 30000
    weights = torch.zeros(num_items)
    weights[2:6] = torch.tensor([1.0, 2.0, 3.0, 0.0])  # item 5 has no training events: never drawn
    weights[6:] = 1.0  # not allowed: on the large catalog the stream rarely hits an allowed item
    allowed = torch.zeros(rows, num_items, dtype=torch.bool)
    allowed[:, 2:6] = True
    allowed &= (weights > 0).unsqueeze(0)
    one = _random_subsets(allowed, 1, torch.Generator().manual_seed(0), weights)
    share = torch.bincount(one.flatten(), minlength=num_items)[2:6].double() / rows
    assert torch.allclose(share, torch.tensor([1 / 6, 2 / 6, 3 / 6, 0.0], dtype=torch.float64), atol=0.01)
    # two without replacement: item 2 (weight 1) is in the pair with probability
    # 1/6 + (2/6)(1/4) + (3/6)(1/3) = 0.4167 (successive sampling)
    two = _random_subsets(allowed, 2, torch.Generator().manual_seed(1), weights)
    assert (two[:, 0] != two[:, 1]).all()
    assert (two == 2).any(1).double().mean().item() == pytest.approx(1 / 6 + 2 / 24 + 3 / 18, abs=0.01)


def test_popularity_sampled_metrics_are_named_and_need_counts():
    scores, targets, seen = sampled_case()
    batch = SequenceBatch(items=seen, events=seen, time_gaps=seen, target=targets, exclude=seen)
    counts = torch.ones(scores.shape[1])
    evaluation = RankingEvaluation(ks=(10,), sampled_negatives=100, sampled_proposal="popularity",
                                   item_counts=counts)
    evaluation.update(scores, batch)
    metrics = evaluation.compute()
    assert {"sampled_pop_recall@10", "sampled_pop_ndcg@10"} <= set(metrics) and "sampled_recall@10" not in metrics
    with pytest.raises(ValueError, match="need item_counts"):
        RankingEvaluation(sampled_negatives=100, sampled_proposal="popularity")
    with pytest.raises(ValueError, match="'uniform' or 'popularity'"):
        RankingEvaluation(sampled_negatives=100, sampled_proposal="zipf")
