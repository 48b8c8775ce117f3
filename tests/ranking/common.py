"""A small hybrid for the ranking tests (stage 1 as on a small shop, a few ranker epochs)."""

from __future__ import annotations

from xsell.baselines import AssociationRules, ItemKNN, MostPopular
from xsell.ranking import HybridRanker


def generators() -> list[object]:
    return [ItemKNN(k=50, window=3, history=5, decay=0.8), AssociationRules(history=5), MostPopular()]


def hybrid(**options) -> HybridRanker:
    return HybridRanker(generators(), **{"per_generator": 20, "max_len": 20, "epochs": 5, "hidden": 32,
                                         "history_candidates": True, **options})
