"""Rules on what the customer already did: never offer what they bought."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.rule import ScoreRule
from xsell.data.schema import FIRST_INDEX


class ExcludePurchased(ScoreRule):
    """Exclude the history items whose event type is one of ``events`` (default: purchases).

    Reads the history's event types, which the serving scorer only receives when the model reads them,
    so this rule is evaluation-side (``compiles = False``); at serving, pass bought items in ``exclude``.
    Only the history the scorer sees counts (the last ``max_len`` events of an evaluation batch).
    """

    compiles = False

    def __init__(self, catalog: ItemCatalog, *, events: Sequence[str] = ("purchase",)) -> None:
        super().__init__()
        self.names = list(events)
        self.register_buffer("event_ids", catalog.event_indices(self.names))  # [E]

    def forward(self, scores: Tensor, items: Tensor, events: Tensor) -> Tensor:
        bought = (events.unsqueeze(2) == self.event_ids.view(1, 1, -1)).any(2) & (items >= FIRST_INDEX)  # [B, L]
        times = torch.zeros(scores.shape, dtype=torch.long, device=scores.device)
        times.scatter_add_(1, items, bought.long())  # [B, N]: how often each item was bought
        return scores.masked_fill(times > 0, -float("inf"))

    def describe(self) -> dict[str, Any]:
        return {"rule": "ExcludePurchased", "events": self.names}
