import math

import pytest
import torch

from xsell.evaluation.metrics import METRICS, RankingAccumulator, metrics_from_ranks
from xsell.evaluation.ranking import target_ranks

RANKS = torch.tensor([1, 2, 11])


def test_metric_values_by_hand():
    m = {name: values.tolist() for name, values in metrics_from_ranks(RANKS, ks=(10, 20)).items()}
    assert set(m) == {f"{name}@{k}" for name in METRICS for k in (10, 20)}
    assert m["recall@10"] == m["hit@10"] == [1.0, 1.0, 0.0]
    assert m["ndcg@10"] == pytest.approx([1.0, 1 / math.log2(3), 0.0])
    assert m["mrr@10"] == m["map@10"] == pytest.approx([1.0, 0.5, 0.0])
    assert m["precision@10"] == pytest.approx([0.1, 0.1, 0.0])
    assert m["recall@20"] == [1.0, 1.0, 1.0]
    assert m["ndcg@20"] == pytest.approx([1.0, 1 / math.log2(3), 1 / math.log2(12)])
    assert m["mrr@20"] == pytest.approx([1.0, 0.5, 1 / 11])
    assert m["precision@20"] == pytest.approx([0.05, 0.05, 0.05])


def test_accumulator_means_by_hand():
    acc = RankingAccumulator(ks=(10,), prefix="sampled_")
    acc.update(RANKS[:1])
    acc.update(RANKS[1:])
    out = acc.compute()
    assert out["sampled_recall@10"] == pytest.approx(2 / 3)
    assert out["sampled_ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert out["sampled_mrr@10"] == pytest.approx(0.5)
    assert out["sampled_precision@10"] == pytest.approx(2 / 30)
    acc.reset()
    assert acc.compute() == {}


def test_results_do_not_depend_on_batch_size():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(10, 40, generator=generator).round(decimals=1)  # rounded: ties happen
    targets = torch.randint(1, 40, (10,), generator=generator)
    results = []
    for size in (1, 3, 10):
        acc = RankingAccumulator(ks=(5, 10))
        for start in range(0, 10, size):
            acc.update(target_ranks(scores[start:start + size], targets[start:start + size]))
        results.append(acc.compute())
    for other in results[1:]:
        assert other.keys() == results[0].keys()
        for name, value in results[0].items():
            assert other[name] == pytest.approx(value, rel=1e-12, abs=1e-15)
