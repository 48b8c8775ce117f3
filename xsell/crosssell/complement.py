"""Complement mode: suggest gloves with a jacket, not a second jacket.

Items of the same category as the anchor (the last ``last`` history items: the cart, or the item just
viewed) are down-weighted by a factor, or excluded with ``factor=0``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.rule import ScoreRule, check_positive, last_items


class ComplementMode(ScoreRule):
    """Down-weight (``0 < factor < 1``) or exclude (``factor = 0``) items sharing a category with the anchor.

    Args:
        catalog: the item table. column: the categorical column (``category``).
        factor: multiplies a same-category item's softmax probability (adds ``log factor`` to its score);
            0 excludes it. Items or anchors of unknown category are left alone.
        last: how many of the most recent history items form the anchor (1: the last item; 3: a small cart).

    Example::

        rule = ComplementMode(catalog, factor=0.0)
        scores = rule(scores, items, events)  # [B, N]: the last item's category is now -inf
    """

    def __init__(self, catalog: ItemCatalog, *, column: str = "category", factor: float = 0.0, last: int = 1) -> None:
        super().__init__()
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"factor must be within [0, 1], got {factor}")
        self.register_buffer("codes", catalog.codes(column))  # [N], -1 unknown
        self.column = column
        self.factor = float(factor)
        self.shift: float = math.log(factor) if factor > 0 else -math.inf
        self.last: int = check_positive("last", last)

    def forward(self, scores: Tensor, items: Tensor, events: Tensor) -> Tensor:
        anchors = self.codes[last_items(items, self.last)]  # [B, n]; padding has code -1
        same = (anchors.unsqueeze(2) == self.codes.view(1, 1, -1)) & (anchors >= 0).unsqueeze(2)  # [B, n, N]
        return torch.where(same.any(1), scores + self.shift, scores)

    def describe(self) -> dict[str, Any]:
        return {"rule": "ComplementMode", "column": self.column, "factor": self.factor, "last": self.last}
