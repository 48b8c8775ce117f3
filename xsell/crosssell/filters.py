"""Item eligibility from the item table: allow lists, deny lists and stock flags (one ``[N]`` mask each)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.rule import ScoreRule


class ItemMask(ScoreRule):
    """Never recommend the items of a fixed ``[N]`` bool mask (True = blocked)."""

    def __init__(self, blocked: Tensor) -> None:
        super().__init__()
        self.register_buffer("blocked", blocked.to(bool))  # [N]

    def forward(self, scores: Tensor, items: Tensor, events: Tensor) -> Tensor:
        return scores.masked_fill(self.blocked.unsqueeze(0), -float("inf"))

    def describe(self) -> dict[str, Any]:
        return {"rule": type(self).__name__, "blocked_items": int(self.blocked.sum())}


class DenyList(ItemMask):
    """Block the listed item ids and the items whose boolean ``column`` is true (e.g. ``adult``)."""

    def __init__(self, catalog: ItemCatalog, *, ids: Sequence[str] = (), column: str | None = None) -> None:
        blocked = catalog.mask_of(ids)
        if column is not None:
            blocked |= catalog.flags(column)
        super().__init__(blocked)


class AllowList(ItemMask):
    """Recommend only the listed item ids and the items whose boolean ``column`` is true (e.g. ``promoted``)."""

    def __init__(self, catalog: ItemCatalog, *, ids: Sequence[str] = (), column: str | None = None) -> None:
        if not ids and column is None:
            raise ValueError("an allow list needs ids, a column or both")
        allowed = catalog.mask_of(ids)
        if column is not None:
            allowed |= catalog.flags(column)
        super().__init__(~allowed)


class InStock(ItemMask):
    """Recommend only items whose stock flag ``column`` is true (items missing from the table are blocked)."""

    def __init__(self, catalog: ItemCatalog, *, column: str = "in_stock") -> None:
        super().__init__(~catalog.flags(column))
