"""One seen-items protocol: excluded by default, and every evaluation path follows the one setting.

The known answer: a scorer that puts every history item above the target and the target above everything
else. With seen items excluded the target is first (ndcg 1, also among sampled negatives, which are then
never history items); with them kept it is behind the 12 history items (ndcg@10 0, and a sampled negative
from the history beats it).
"""

from __future__ import annotations

import inspect

import pytest
import torch

from xsell.crosssell.pipeline import RulePipeline
from xsell.data.batch import SequenceBatch
from xsell.evaluation.protocol import RankingEvaluation, evaluate_scorer, seen_items_label
from xsell.evaluation.report import evaluate
from xsell.evaluation.table import rank_table
from xsell.evaluation.trigger import TriggerWindow
from xsell.export.scorer import TopKScorer
from xsell.retrieval.two_stage import TwoStageScorer
from xsell.training.module import NextItemModule

from .tiny import tiny_data

NUM_ITEMS = 32  # 0 padding, 1 unknown, 2..31 catalog
HISTORY = list(range(2, 14))  # 12 seen items
TARGET = 20
ROWS = 4


def history_first(batch: SequenceBatch) -> torch.Tensor:
    """``[B, N]``: 2 for the history items, 1 for the target, 0 for the rest."""
    scores = torch.nn.functional.one_hot(batch.target, NUM_ITEMS).float()
    return scores.scatter(1, batch.exclude, 2.0)


def batch() -> SequenceBatch:
    items = torch.tensor([HISTORY] * ROWS)  # [B, L]
    return SequenceBatch(items=items, events=torch.ones_like(items), time_gaps=torch.zeros_like(items),
                         target=torch.full((ROWS,), TARGET), exclude=items.clone())


def test_excluding_seen_items_is_the_default_of_every_evaluation_and_serving_path():
    for function in (RankingEvaluation, NextItemModule, evaluate, rank_table, TriggerWindow.evaluate,
                     RulePipeline.wrap, TwoStageScorer):
        assert inspect.signature(function).parameters["exclude_seen"].default is True, function
    assert inspect.signature(TopKScorer).parameters["exclude_history"].default is True
    assert RankingEvaluation().exclude_seen


@pytest.mark.parametrize(("exclude_seen", "ndcg", "sampled_hit"), [(True, 1.0, 1.0), (False, 0.0, 0.0)])
def test_full_and_sampled_metrics_follow_the_setting(exclude_seen, ndcg, sampled_hit):
    metrics = evaluate_scorer(history_first, [batch()], ks=(1, 10), exclude_seen=exclude_seen,
                              sampled_negatives=10, seed=0)
    assert metrics["ndcg@10"] == ndcg and metrics["recall@10"] == ndcg
    # 10 negatives out of the 29 other items: kept, the 12 history items are among them (and beat the target)
    assert metrics["sampled_hit@1"] == sampled_hit


def test_served_lists_of_the_rank_table_follow_the_setting():
    excluded = rank_table(history_first, [batch()], k=5, exclude_seen=True)
    kept = rank_table(history_first, [batch()], k=5, exclude_seen=False)
    assert excluded.get_column("rank").to_list() == [1] * ROWS
    assert kept.get_column("rank").to_list() == [len(HISTORY) + 1] * ROWS
    assert not set(excluded.get_column("top_k").explode().to_list()) & set(HISTORY)
    assert set(kept.get_column("top_k").explode().to_list()) <= set(HISTORY)


def test_reports_name_the_protocol():
    data = tiny_data()

    def seen_first(batch: SequenceBatch) -> torch.Tensor:
        scores = torch.zeros(len(batch.items), data.num_items)
        return scores.scatter(1, batch.exclude, 1.0)

    for exclude_seen in (True, False):
        report = evaluate(seen_first, data, ks=(1,), exclude_seen=exclude_seen, n_resamples=5)
        assert report.to_markdown().splitlines()[0].endswith(f"predictions, {seen_items_label(exclude_seen)}")
        trigger = TriggerWindow(window_events=5).evaluate(seen_first, data, ks=(1,), exclude_seen=exclude_seen)
        assert seen_items_label(exclude_seen) in trigger.to_markdown()
    assert seen_items_label(True) == "seen items excluded" and seen_items_label(False) == "seen items kept"
