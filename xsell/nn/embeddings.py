"""Item representations shared by the input and the output of every model, plus context embeddings.

An item's vector is its id embedding plus, optionally, the mean embedding of each of its categorical
features (category, brand, price bucket, tokens). The same table scores the catalog at the output, so an
item that shares features with popular items starts from a useful place (and a brand-new item with
features but no interactions gets a vector at all).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xsell.data.features import FeatureSpec


class ItemEmbedding(nn.Module):
    """Item id embedding fused with item feature embeddings.

    Args:
        num_items: item vocabulary size (index 0 padding, 1 unknown).
        dim: embedding size ``D``.
        feature_ids: ``[num_items, F]`` feature ids of every item (from ``FeatureTable.ids``), or None.
        feature_specs: how the ``F`` columns group into features (``slots`` columns share one table).
        extra_tokens: additional rows after the catalog (e.g. 1 for BERT4Rec's mask token).
    """

    def __init__(
        self,
        num_items: int,
        dim: int,
        feature_ids: Tensor | None = None,
        feature_specs: Sequence[FeatureSpec] = (),
        extra_tokens: int = 0,
    ) -> None:
        super().__init__()
        self.num_items = num_items
        self.ids = nn.Embedding(num_items + extra_tokens, dim, padding_idx=0)
        nn.init.normal_(self.ids.weight, std=dim**-0.5)
        with torch.no_grad():
            self.ids.weight[0].zero_()
        self.features = nn.ModuleList(nn.Embedding(s.cardinality, dim, padding_idx=0) for s in feature_specs)
        for table in self.features:
            nn.init.normal_(table.weight, std=dim**-0.5)
        slots = [s.slots for s in feature_specs]
        self.slot_ends: list[int] = torch.tensor(slots).cumsum(0).tolist() if slots else []
        table = feature_ids if feature_ids is not None else torch.zeros(num_items, 0, dtype=torch.long)
        if table.shape[0] != num_items:
            raise ValueError(f"feature table has {table.shape[0]} rows, expected {num_items}")
        if extra_tokens:
            table = torch.cat([table, table.new_zeros(extra_tokens, table.shape[1])])
        self.register_buffer("feature_ids", table.long(), persistent=True)

    def forward(self, items: Tensor) -> Tensor:
        """``[...]`` item indices -> ``[..., D]`` vectors."""
        out = self.ids(items)
        if len(self.features) == 0:
            return out
        return out + self.content(self.feature_ids[items])

    def content(self, feature_ids: Tensor) -> Tensor:
        """``[..., F]`` feature ids -> ``[..., D]``: the sum over features of each feature's mean slot vector
        (the id part left out, so an item unknown to the vocabulary can be embedded from its features)."""
        out = torch.zeros(feature_ids.shape[:-1] + (self.ids.embedding_dim,), device=feature_ids.device,
                          dtype=self.ids.weight.dtype)
        start = 0
        for i, table in enumerate(self.features):
            end = self.slot_ends[i]
            slot_ids = feature_ids[..., start:end]  # [..., S]
            present = (slot_ids > 0).unsqueeze(-1).to(out.dtype)  # [..., S, 1]
            summed = (table(slot_ids) * present).sum(-2)
            out = out + summed / present.sum(-2).clamp(min=1.0)
            start = end
        return out

    def catalog(self) -> Tensor:
        """``[num_items, D]`` vectors of every catalog item (padding row included, mask rows excluded)."""
        return self.forward(torch.arange(self.num_items, device=self.ids.weight.device))


class ContextEmbedding(nn.Module):
    """Learned positions plus optional event-type and time-gap embeddings, added to the item vectors."""

    def __init__(
        self,
        max_len: int,
        dim: int,
        num_event_types: int = 0,
        num_time_gap_buckets: int = 0,
        positions: bool = True,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.positions = nn.Embedding(max_len, dim) if positions else None
        self.events = nn.Embedding(num_event_types, dim, padding_idx=0) if num_event_types > 0 else None
        self.time_gaps = nn.Embedding(num_time_gap_buckets, dim, padding_idx=0) if num_time_gap_buckets > 0 else None
        for table in (self.positions, self.events, self.time_gaps):
            if table is not None:
                nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            for table in (self.events, self.time_gaps):
                if table is not None:
                    table.weight[0].zero_()  # padding adds nothing

    def forward(self, x: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        """Add context to ``x`` ``[B, L, D]``; positions count back from the most recent (last) column."""
        length = x.shape[1]
        if self.positions is not None:
            # Left-padded sequences: the last column always gets position max_len - 1.
            start = self.max_len - length
            x = x + self.positions.weight[start:].unsqueeze(0)  # [1, L, D]
        if self.events is not None:
            x = x + self.events(events)
        if self.time_gaps is not None:
            x = x + self.time_gaps(time_gaps)
        return x
