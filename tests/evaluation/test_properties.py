"""Property tests: metric ranges, perfect rankings, and invariance to the scores of non-relevant items."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xsell.data.batch import SequenceBatch
from xsell.evaluation import beyond_accuracy as ba
from xsell.evaluation.metrics import METRICS
from xsell.evaluation.table import metric_values, rank_table

KS = (1, 3, 10)
NAMES = [f"{name}@{k}" for name in METRICS for k in KS]


@st.composite
def cases(draw):
    rows = draw(st.integers(1, 6))
    num_items = draw(st.integers(3, 12))
    scores = draw(arrays(np.float32, (rows, num_items), elements=st.integers(-3, 3).map(float)))  # ties
    targets = draw(arrays(np.int64, rows, elements=st.integers(1, num_items - 1)))
    history = draw(arrays(np.int64, (rows, draw(st.integers(1, 4))), elements=st.integers(0, num_items - 1)))
    exclude_seen = draw(st.booleans())
    return scores, targets, history, exclude_seen


def table_of(scores, targets, history, exclude_seen, k=10):
    items = torch.from_numpy(history)
    batch = SequenceBatch(items=items, events=torch.ones_like(items), time_gaps=torch.ones_like(items),
                          users=torch.arange(len(targets)), target=torch.from_numpy(targets),
                          target_event=torch.full((len(targets),), 2), exclude=items)
    return rank_table(lambda b: torch.from_numpy(scores), [batch], k=k, exclude_seen=exclude_seen)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_metrics_lie_in_the_unit_interval(case):
    scores, targets, history, exclude_seen = case
    table = table_of(scores, targets, history, exclude_seen)
    for name in NAMES:
        values = metric_values(table, name)
        assert ((values >= 0) & (values <= 1)).all()
    num_items = scores.shape[1]
    categories = np.arange(num_items) % 3
    top_k = table.get_column("top_k")
    for k in KS:
        assert 0.0 <= ba.catalog_coverage(top_k, k, num_items) <= 1.0
        for value in (ba.intra_list_diversity(top_k, k, categories),
                      ba.complement_rate(top_k, k, history[:, -1], categories)):
            assert np.isnan(value) or 0.0 <= value <= 1.0
    lengths = top_k.list.len().to_numpy()
    assert (lengths <= num_items - 2).all() and (top_k.explode().drop_nulls() >= 2).all()
    assert (top_k.list.n_unique() == top_k.list.len()).all()  # no item twice in a list


@settings(max_examples=60, deadline=None)
@given(cases())
def test_a_perfect_ranking_scores_one(case):
    scores, targets, history, exclude_seen = case
    targets = np.maximum(targets, 2)  # a known target
    scores = scores.copy()
    scores[np.arange(len(targets)), targets] = 100.0  # strictly above every other item
    table = table_of(scores, targets, history, exclude_seen)
    assert table.get_column("rank").to_list() == [1] * len(targets)
    for name in ("ndcg", "recall", "hit", "mrr", "map"):
        for k in KS:
            assert (metric_values(table, f"{name}@{k}") == 1.0).all()
    if not exclude_seen:  # the served list starts with the target (unless it was excluded as seen)
        assert table.get_column("top_k").list.first().to_list() == targets.tolist()


@settings(max_examples=60, deadline=None)
@given(cases(), st.randoms(use_true_random=False))
def test_permuting_non_relevant_scores_changes_nothing(case, random):
    scores, targets, history, exclude_seen = case
    before = table_of(scores, targets, history, exclude_seen)
    permuted = scores.copy()
    for row, target in enumerate(targets):  # shuffle the scores of every other item that can be ranked
        seen = set(history[row].tolist()) if exclude_seen else set()
        others = [i for i in range(2, scores.shape[1]) if i != target and i not in seen]
        shuffled = others.copy()
        random.shuffle(shuffled)
        permuted[row, others] = scores[row, shuffled]
    after = table_of(permuted, targets, history, exclude_seen)
    for name in NAMES:
        assert np.array_equal(metric_values(before, name), metric_values(after, name))


def test_seen_items_neither_rank_nor_serve():
    scores = np.array([[0, 0, 3, 1, 2, 1]], dtype=np.float32)
    table = table_of(scores, np.array([3]), np.array([[2, 0]]), exclude_seen=True)
    assert table.get_column("rank").to_list() == [3]  # items 4 and 5 (tie) beat or tie the target, 2 is seen
    assert table.get_column("top_k").to_list() == [[4, 3, 5]]
