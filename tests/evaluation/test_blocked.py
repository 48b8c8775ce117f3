import pytest
import torch

from xsell.data.batch import SequenceBatch
from xsell.evaluation.blocked import DotProductScorer, blocked_ranking, blocked_target_ranks, blocked_top_k
from xsell.evaluation.protocol import evaluate_scorer
from xsell.evaluation.ranking import MISS, target_ranks
from xsell.evaluation.table import rank_table, top_k_items


def integer_case(seed: int = 0, batch: int = 40, num_items: int = 53, history: int = 12):
    """Small integer vectors: every score is exact in float32, so ties are real and many, and the blocked and
    dense paths must agree to the last rank and list entry. Padding and unknown score highest (never ranked),
    some targets are unknown, histories repeat items and some hold the target itself."""
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randint(-2, 3, (batch, 4), generator=generator).float()  # [B, D]
    items = torch.randint(-2, 3, (num_items, 4), generator=generator).float()  # [N, D]
    items[:2] = 5.0
    targets = torch.randint(2, num_items, (batch,), generator=generator)
    targets[:3] = 1
    exclude = torch.randint(0, num_items, (batch, history), generator=generator)
    exclude[::4, 0] = targets[::4]
    exclude[:, -3:] = exclude[:, :3]
    return queries, items, targets, exclude


@pytest.mark.parametrize("block", [1, 3, 7, 64, 1000])
def test_blocked_ranks_equal_the_full_score_matrix_ranks(block):
    queries, items, targets, exclude = integer_case()
    scores = queries @ items.T  # [B, N]
    for excluded in (None, exclude):
        expected = target_ranks(scores, targets, excluded)
        assert blocked_target_ranks(queries, items, targets, excluded, block=block).tolist() == expected.tolist()
    queries[5, 0] = float("nan")  # a diverged query misses on both paths
    assert blocked_target_ranks(queries, items, targets, exclude, block=block)[5] == MISS


@pytest.mark.parametrize("block", [1, 4, 9, 64, 1000])
@pytest.mark.parametrize("k", [1, 5, 20, 60])  # 60: more than the 51 rankable items
def test_blocked_top_k_equals_the_full_score_matrix_lists(block, k):
    queries, items, targets, exclude = integer_case(seed=1)
    queries[7] = float("nan")  # NaN scores: below every finite one, ties by index
    items[10] = -float("inf")  # -inf and NaN scores in every row
    scores = queries @ items.T  # [B, N]
    for excluded in (None, exclude):
        expected = top_k_items(scores, k, excluded)
        assert blocked_top_k(queries, items, k, excluded, block=block).tolist() == expected.tolist()
    ranks, top = blocked_ranking(queries, items, targets, exclude, k=k, block=block)
    assert ranks.tolist() == target_ranks(scores, targets, exclude).tolist()
    assert top.tolist() == top_k_items(scores, k, exclude).tolist()


def test_a_history_of_every_item_leaves_an_empty_list():
    items = torch.arange(12, dtype=torch.float).unsqueeze(1)  # [N, 1]: item i scores i
    queries = torch.ones(2, 1)
    exclude = torch.tensor([list(range(12)), [0] * 12])  # the first user has seen everything
    assert blocked_top_k(queries, items, 3, exclude, block=5).tolist() == [[-1, -1, -1], [11, 10, 9]]


def batches_of(queries, targets, exclude, size):
    for start in range(0, len(targets), size):
        rows = torch.arange(start, min(start + size, len(targets)))
        history = exclude[rows]
        yield SequenceBatch(items=history, events=torch.zeros_like(history), time_gaps=torch.zeros_like(history),
                            users=rows, target=targets[rows], exclude=history, row=rows)


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_dot_product_scorer_tables_and_metrics_equal_the_score_matrix_path(exclude_seen):
    queries, items, targets, exclude = integer_case(seed=2, batch=30)
    queries[::2] = items[targets[::2]]  # half the users point at their target: some hits
    blocked = DotProductScorer(lambda batch: queries[batch.users], items)
    dense = lambda batch: queries[batch.users] @ items.T  # noqa: E731
    assert torch.equal(blocked(next(batches_of(queries, targets, exclude, 30))), queries @ items.T)
    tables = [rank_table(score, batches_of(queries, targets, exclude, 7), k=6, exclude_seen=exclude_seen)
              for score in (blocked, dense)]
    assert tables[0].equals(tables[1])
    metrics = [evaluate_scorer(score, batches_of(queries, targets, exclude, 7), ks=(1, 5), exclude_seen=exclude_seen)
               for score in (blocked, dense)]
    assert metrics[0] == pytest.approx(metrics[1], abs=1e-12) and 0 < metrics[0]["recall@5"] < 1
