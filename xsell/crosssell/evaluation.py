"""A model's full-ranking metrics after cross-sell rules re-rank its scores."""

from __future__ import annotations

import copy
from typing import Any

import torch

from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.pipeline import build_pipeline
from xsell.data.datasets import evaluation_batches
from xsell.data.prepared import PreparedData
from xsell.evaluation.protocol import evaluate_scorer


def evaluate_with_rules(rules: dict, model: torch.nn.Module, data: PreparedData, *, batch_size: int = 128,
                        **options: Any) -> dict[str, Any]:
    """Full-ranking validation and test metrics of ``model`` re-ranked by the cross-sell rule factories
    ``rules`` (a CPU copy of the model scores the CPU batches of ``batch_size`` targets)."""
    pipeline = build_pipeline(rules, ItemCatalog.of(data))
    reranked = pipeline.wrap(copy.deepcopy(model).cpu().eval().score, exclude_seen=options.get("exclude_seen", False))
    return {"pipeline": pipeline.describe(),
            **{part: evaluate_scorer(reranked, evaluation_batches(data, part, batch_size), **options)
               for part in ("val", "test")}}
