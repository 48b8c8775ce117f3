"""A model's full-ranking metrics after cross-sell rules re-rank its scores."""

from __future__ import annotations

import copy
from typing import Any

import torch

from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.pipeline import build_pipeline
from xsell.data.datamodule import SequenceDataModule
from xsell.evaluation.protocol import evaluate_scorer


def evaluate_with_rules(rules: dict, model: torch.nn.Module, datamodule: SequenceDataModule, **options: Any
                        ) -> dict[str, Any]:
    """Full-ranking validation and test metrics of ``model`` re-ranked by the cross-sell rule factories
    ``rules`` (a CPU copy of the model scores the CPU batches)."""
    pipeline = build_pipeline(rules, ItemCatalog.of(datamodule))
    reranked = pipeline.wrap(copy.deepcopy(model).cpu().eval().score, exclude_seen=options.get("exclude_seen", False))
    return {"pipeline": pipeline.describe(),
            "val": evaluate_scorer(reranked, datamodule.val_dataloader(), **options),
            "test": evaluate_scorer(reranked, datamodule.test_dataloader(), **options)}
