"""The pipeline: composition from Hydra configs, slot order, and evaluation through the evaluation code."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.crosssell.shop import FLAT, GL1, GL2, HAT, JK1, JK2, SC1, catalog, history, scores
from tests.evaluation.tiny import tiny_data
from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.complement import ComplementMode
from xsell.crosssell.pipeline import RulePipeline, build_pipeline, slots_first
from xsell.crosssell.selection import CategoryCap
from xsell.evaluation.ranking import MISS
from xsell.evaluation.report import evaluate
from xsell.evaluation.table import top_k_items
from xsell.training.builders import CONFIG_DIR

RULES = Path(CONFIG_DIR) / "rules"


def test_slots_come_first_and_the_rest_keeps_its_order_and_ties():
    row = torch.tensor([[0.0, 0.0, 3.0, 2.0, 2.0, 1.0, -float("inf")]])
    out = slots_first(row, torch.tensor([[5, 3, -1]]))
    assert out.dtype == torch.float64
    assert top_k_items(out, 4).tolist() == [[5, 3, 2, 4]]
    assert out[0].tolist() == [0.0, 0.0, 3.0, 6.0, 2.0, 7.0, -float("inf")]


def test_pipeline_applies_score_rules_then_list_rules():
    c = catalog()
    pipeline = RulePipeline([ComplementMode(c, factor=0.0)], [CategoryCap(c, max_per_category=1, k=3)])
    items, events = history(JK1)
    out = pipeline(scores(FLAT), items, events)
    assert top_k_items(out, 4).tolist() == [[GL1, HAT, SC1, GL2]]  # no jacket, one per category; then the rest in order
    assert [r["rule"] for r in pipeline.describe()] == ["ComplementMode", "CategoryCap"]
    assert [r["rule"] for r in pipeline.left_out()] == ["CategoryCap"]
    assert len(pipeline.compiled().rules) == 1


def test_every_rules_config_builds(tmp_path):
    c = catalog()
    assert len(list(RULES.glob("*.yaml"))) >= 3
    for path in sorted(RULES.glob("*.yaml")):
        pipeline = build_pipeline(instantiate(OmegaConf.load(path)), c)
        out = pipeline(scores(FLAT), *history(JK2, HAT))
        assert out.shape == (1, 9), path.name
    with pytest.raises(TypeError, match="not cross-sell rules"):
        build_pipeline([lambda catalog: object()], c)


def test_rules_reach_the_evaluation_metrics():
    data = tiny_data()
    catalog_ = ItemCatalog.of(data)
    constant = lambda batch: torch.zeros(len(batch), data.num_items)  # noqa: E731 - lists i0, i1, ... by index
    plain = evaluate(constant, data, ks=(2,), n_resamples=10, exclude_seen=False)
    pipeline = build_pipeline([lambda catalog: ComplementMode(catalog, factor=0.0)], catalog_)
    ruled = evaluate(pipeline.wrap(constant, exclude_seen=False), data, ks=(2,), n_resamples=10, exclude_seen=False)
    assert plain.metrics["complement_rate@2"] < 1.0
    assert ruled.metrics["complement_rate@2"] == 1.0
    # a target in the last item's category can no longer be found: a certain miss, never a free hit
    codes = catalog_.codes("category")
    blocked = ruled.table.filter(pl.Series(codes[ruled.table["target"].to_numpy(writable=True)] == codes[
        ruled.table["last_item"].to_numpy(writable=True)]) & (ruled.table["target"] > 1))
    assert blocked.height > 0 and (blocked["rank"] == MISS).all()


class Oracle(torch.nn.Module):
    """Scores the batch's target 1 and everything else 0 (rank 1 for every known target)."""

    def __init__(self, num_items: int) -> None:
        super().__init__()
        self.num_items = num_items

    def score(self, batch) -> torch.Tensor:
        return torch.nn.functional.one_hot(batch.target, self.num_items).float()


def test_training_reports_metrics_with_rules_on():
    from xsell.crosssell.evaluation import evaluate_with_rules

    data = tiny_data()
    # b's target i3 follows i2 and c's i5 follows i4, same categories: excluding the anchor's category turns
    # the oracle's hits into misses. d's last item i7 is unknown to training (its only occurrence is d's
    # validation event), so it anchors nothing and d keeps its hit; a's target is unknown: a miss either way
    rules = {"complement": lambda catalog: ComplementMode(catalog, factor=0.0)}
    result = evaluate_with_rules(rules, Oracle(data.num_items), data, ks=(2,))
    assert result["pipeline"] == [{"rule": "ComplementMode", "column": "category", "factor": 0.0, "last": 1}]
    assert result["test"]["recall@2"] == 0.25
    assert evaluate_with_rules({}, Oracle(data.num_items), data, ks=(2,))["test"]["recall@2"] == 0.75


def test_seen_items_never_fill_a_slot_but_keep_their_scores():
    pipeline = RulePipeline(list_rules=[CategoryCap(catalog(), max_per_category=1, k=2)])
    items, events = history(JK1)
    out = pipeline(scores(FLAT), items, events, exclude=torch.tensor([[JK1, 0]]))
    assert top_k_items(out, 2).tolist() == [[JK2, GL1]]  # jk1 was seen: the jacket slot goes to jk2
    assert out[0, JK1] == 7.0  # below the slots, with its own score
