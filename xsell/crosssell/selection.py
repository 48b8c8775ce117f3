"""List rules: pick the served top-k greedily, slot by slot, with the categories already placed in view.

- :class:`CategoryCap`: at most ``max_per_category`` items of one category in the list;
- :class:`CategoryMMR`: maximal marginal relevance with category similarity: each slot maximises
  ``lam * relevance - (1 - lam) * max_sim(item, list so far)``, where ``max_sim`` is 1 when an item of the
  same category is already in the list and relevance is the score min-max scaled to [0, 1] per row.

:func:`greedy_top_k` runs the slots once for any number of list rules (each may veto or re-weigh items);
ties go to the lower item index, like :func:`xsell.evaluation.table.top_k_items`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.rule import check_positive
from xsell.data.schema import FIRST_INDEX


class ListRule:
    """Base class: ``adjust(keys, relevance, chosen)`` -> new ``[B, N]`` keys for the next slot.

    Args of ``adjust``: ``keys`` ``[B, N]`` (``-inf`` = not eligible), ``relevance`` ``[B, N]`` scores scaled
    to [0, 1], ``chosen`` ``[B, S]`` item indices placed so far (-1 where a row had nothing left).
    """

    compiles = False  # a data-dependent loop over slots: applied after the scorer, not inside it

    def __init__(self, catalog: ItemCatalog, column: str, k: int) -> None:
        self.codes = catalog.codes(column)  # [N], -1 unknown
        self.column = column
        self.k = check_positive("k", k)

    def placed(self, chosen: Tensor) -> Tensor:
        """``[B, N]`` number of items already in each row's list with the item's category (0 when unknown)."""
        batch, num_items = chosen.shape[0], self.codes.shape[0]
        width = int(self.codes.max()) + 2 if num_items else 1
        codes = self.codes.to(chosen.device)
        slots = torch.where(chosen >= 0, codes[chosen.clamp(min=0)] + 1, 0)  # [B, S]; 0 = unknown or empty
        counts = torch.zeros(batch, width, dtype=torch.long, device=chosen.device).scatter_add_(
            1, slots, torch.ones_like(slots))  # [B, C + 1]
        counts[:, 0] = 0  # unknown categories are never capped
        return counts.gather(1, (codes + 1).unsqueeze(0).expand(batch, -1))  # [B, N]

    def adjust(self, keys: Tensor, relevance: Tensor, chosen: Tensor) -> Tensor:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"rule": type(self).__name__, "column": self.column, "k": self.k}


class CategoryCap(ListRule):
    """At most ``max_per_category`` items of one category among the first ``k`` slots."""

    def __init__(self, catalog: ItemCatalog, *, max_per_category: int = 2, column: str = "category",
                 k: int = 10) -> None:
        super().__init__(catalog, column, k)
        self.max_per_category = check_positive("max_per_category", max_per_category)

    def adjust(self, keys: Tensor, relevance: Tensor, chosen: Tensor) -> Tensor:
        return keys.masked_fill(self.placed(chosen) >= self.max_per_category, -float("inf"))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_per_category": self.max_per_category}


class CategoryMMR(ListRule):
    """Maximal marginal relevance over categories: ``lam = 1`` is the plain ranking, smaller spreads the
    list over more categories."""

    def __init__(self, catalog: ItemCatalog, *, lam: float = 0.7, column: str = "category", k: int = 10) -> None:
        super().__init__(catalog, column, k)
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam must be within [0, 1], got {lam}")
        self.lam = float(lam)

    def adjust(self, keys: Tensor, relevance: Tensor, chosen: Tensor) -> Tensor:
        redundant = (self.placed(chosen) > 0).to(relevance.dtype)  # [B, N] max category similarity
        mmr = self.lam * relevance - (1.0 - self.lam) * redundant
        return torch.where(keys == -float("inf"), keys, mmr)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "lam": self.lam}


def relevance(scores: Tensor) -> Tensor:
    """``[B, N]`` scores min-max scaled to [0, 1] over each row's finite entries (-inf stays -inf)."""
    finite = torch.isfinite(scores)
    low = scores.masked_fill(~finite, float("inf")).amin(1, keepdim=True)  # [B, 1]
    high = scores.masked_fill(~finite, -float("inf")).amax(1, keepdim=True)
    scaled = (scores - low) / (high - low).clamp(min=torch.finfo(scores.dtype).tiny)
    return torch.where(finite, scaled.clamp(0.0, 1.0), torch.full_like(scores, -float("inf")))


@torch.no_grad()
def greedy_top_k(scores: Tensor, rules: Sequence[ListRule], k: int) -> Tensor:
    """``[B, k]`` item indices chosen slot by slot: each slot takes the item with the largest key after
    every rule's ``adjust``; -1 where no eligible item is left. Non-finite scores, padding and the unknown
    item are never chosen."""
    batch = scores.shape[0]
    scores = scores.float()
    base = scores.masked_fill(~torch.isfinite(scores), -float("inf"))  # [B, N]
    base[:, :FIRST_INDEX] = -float("inf")  # padding and the unknown item are never served
    scaled = relevance(base)
    chosen = torch.full((batch, 0), -1, dtype=torch.long, device=scores.device)
    taken = torch.zeros_like(base, dtype=torch.bool)
    for _ in range(k):
        keys = base.masked_fill(taken, -float("inf"))
        for rule in rules:
            keys = rule.adjust(keys, scaled, chosen)
        value, best = keys.max(1)  # first maximal index on ties
        found = value > -float("inf")
        chosen = torch.cat([chosen, torch.where(found, best, -1).unsqueeze(1)], dim=1)
        taken[found.nonzero().squeeze(1), best[found]] = True
    return chosen
