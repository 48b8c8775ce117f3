"""Price rules relative to the cart: e.g. an accessory costs at most 30% of the jacket it goes with."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.rule import ScoreRule, check_positive, last_items


class PriceRule(ScoreRule):
    """Exclude items whose price is outside ``[min_ratio, max_ratio]`` times the anchor's price.

    Args:
        catalog: the item table. column: the numeric price column.
        max_ratio: the most a recommendation may cost relative to the anchor (None: no upper bound).
        min_ratio: the least (None: no lower bound).
        last: the anchor is the most expensive of the last ``last`` history items.

    An anchor without a known price leaves the row unchanged; items without a known price are kept.

    Example::

        rule = PriceRule(catalog, max_ratio=0.3)   # accessories only: <= 30% of the last item's price
    """

    def __init__(self, catalog: ItemCatalog, *, column: str = "price", max_ratio: float | None = 1.0,
                 min_ratio: float | None = None, last: int = 1) -> None:
        super().__init__()
        if max_ratio is None and min_ratio is None:
            raise ValueError("a price rule needs max_ratio, min_ratio or both")
        if (max_ratio is not None and max_ratio <= 0) or (min_ratio is not None and min_ratio < 0):
            raise ValueError(f"price ratios must be positive, got min_ratio={min_ratio}, max_ratio={max_ratio}")
        self.register_buffer("prices", catalog.values(column))  # [N], NaN unknown
        self.column = column
        self.max_ratio: float = float("inf") if max_ratio is None else float(max_ratio)
        self.min_ratio: float = 0.0 if min_ratio is None else float(min_ratio)
        self.last: int = check_positive("last", last)

    def forward(self, scores: Tensor, items: Tensor, events: Tensor) -> Tensor:
        anchor = self.prices[last_items(items, self.last)]  # [B, n]; NaN at padding and unknown prices
        anchor = anchor.masked_fill(torch.isnan(anchor), -float("inf")).amax(1, keepdim=True)  # [B, 1]
        known = torch.isfinite(anchor) & (anchor > 0)  # [B, 1]
        prices = self.prices.unsqueeze(0)  # [1, N]; comparisons with NaN are False: unknown prices kept
        outside = (prices > anchor * self.max_ratio) | (prices < anchor * self.min_ratio)  # [B, N]
        return scores.masked_fill(outside & known, -float("inf"))

    def describe(self) -> dict[str, Any]:
        return {"rule": "PriceRule", "column": self.column, "max_ratio": self.max_ratio,
                "min_ratio": self.min_ratio, "last": self.last}
