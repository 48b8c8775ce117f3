"""A hand-written two-dimensional model whose rankings can be worked out on paper."""

from __future__ import annotations

import polars as pl
import torch
from torch import Tensor, nn

# Item vectors: 0 padding, 1 unknown, then 2..5.
CATALOG = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.5, 0.5]])
COUNTS = torch.tensor([0.0, 0.0, 1.0, 5.0, 3.0, 2.0])  # training events per item: prior 1/11, 5/11, 3/11, 2/11
EVENT_SHIFT = torch.tensor([[0.0, 0.0], [0.0, 0.2], [0.0, 0.0]])  # the unknown event type (1) adds [0, 0.2]
MAX_LEN = 4


class LastItem(nn.Module):
    """The user vector is the most recent item's vector plus a shift for its event type."""

    def __init__(self) -> None:
        super().__init__()
        self.max_len = MAX_LEN
        self.register_buffer("table", CATALOG.clone())
        self.register_buffer("shift", EVENT_SHIFT.clone())

    def encode_sequence(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        return self.table[items[:, -1]] + self.shift[events[:, -1]]  # [B, 2]

    def item_embeddings(self) -> Tensor:
        return self.table  # [N, 2]


# The item table of a toy bundle: indices 2..5 are the original ids a..d.
ITEM_TABLE = pl.DataFrame({"index": list(range(6)), "item_id": [None, None, "a", "b", "c", "d"]},
                          schema={"index": pl.Int64, "item_id": pl.String})
# The descriptive manifest entries of a toy bundle (what export_model fills in for a trained model).
MANIFEST = {"model": {"name": "LastItem", "class": "tests.export.toy.LastItem", "num_parameters": 0, "dim": 2,
                      "max_len": MAX_LEN, "num_items": 6},
            "data": {"name": "toy", "events": 11, "fingerprint": "0" * 64}, "metrics": None}
