"""Item representations shared by the input and the output of every model, plus context embeddings.

An item's vector is its id embedding plus, optionally, the mean embedding of each of its categorical
features (category, brand, price bucket, tokens). The same table scores the catalog at the output, so an
item that shares features with popular items starts from a useful place (and a brand-new item with
features but no interactions gets a vector at all).

The same pooled feature embedding (``FeatureEmbedding``) embeds the request side of a prediction:
``RequestFeatures`` fuses the context of the event being predicted (device, time of day, session length so
far) and the user's features (segment) into the query vector of every model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
from torch import Tensor, nn

from xsell.data.features import FeatureSpec


class FeatureEmbedding(nn.Module):
    """Categorical feature ids -> one vector: the sum over features of the mean embedding of their slots.

    Args:
        feature_specs: one :class:`~xsell.data.features.FeatureSpec` per feature; ``slots`` consecutive
            id columns share one table of ``cardinality`` rows (0 padding adds nothing, 1 unknown is learned).
        dim: output size ``D``.

    Example::

        context = FeatureEmbedding([FeatureSpec("device", 5), FeatureSpec("time_of_day", 6)], dim=64)
        vectors = context.content(ids)  # [B, L, 2] -> [B, L, 64]
    """

    def __init__(self, feature_specs: Sequence[FeatureSpec], dim: int) -> None:
        super().__init__()
        self.slot_ends: list[int] = self._add_tables(feature_specs, dim)

    def _add_tables(self, feature_specs: Sequence[FeatureSpec], dim: int) -> list[int]:
        """Create the feature tables; returns the end column of each feature's slots."""
        self.dim = dim
        self.features = nn.ModuleList(nn.Embedding(s.cardinality, dim, padding_idx=0) for s in feature_specs)
        for table in self.features:
            nn.init.normal_(table.weight, std=dim**-0.5)
        slots = [s.slots for s in feature_specs]
        self.width = sum(slots)  # number of id columns ``F`` of the input
        return torch.tensor(slots).cumsum(0).tolist() if slots else []

    def content(self, feature_ids: Tensor) -> Tensor:
        """``[..., F]`` feature ids -> ``[..., D]``: the sum over features of each feature's mean slot vector."""
        out: Optional[Tensor] = None  # noqa: UP045 - TorchScript; the tables' dtype (zeros without features)
        start = 0
        for i, table in enumerate(self.features):
            end = self.slot_ends[i]
            slot_ids = feature_ids[..., start:end]  # [..., S]
            vectors = table(slot_ids)  # [..., S, D]
            present = (slot_ids > 0).unsqueeze(-1).to(vectors.dtype)  # [..., S, 1]
            mean = (vectors * present).sum(-2) / present.sum(-2).clamp(min=1.0)  # [..., D]
            out = mean if out is None else out + mean
            start = end
        if out is None:
            return torch.zeros(feature_ids.shape[:-1] + (self.dim,), device=feature_ids.device)
        return out


class ItemEmbedding(FeatureEmbedding):
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
        nn.Module.__init__(self)  # the id table first, then the feature tables (initialisation order)
        self.num_items = num_items
        self.ids = nn.Embedding(num_items + extra_tokens, dim, padding_idx=0)
        nn.init.normal_(self.ids.weight, std=dim**-0.5)
        with torch.no_grad():
            self.ids.weight[0].zero_()
        self.slot_ends: list[int] = self._add_tables(feature_specs, dim)
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


class RequestFeatures(nn.Module):
    """Fuses what is known about a request into a query vector: the context of the event being predicted
    (device, time of day, session length so far; never its item) and the user's features (segment).

    ``q = h + MLP([h; context(c) + user(u)])``: the MLP sees the history's vector ``h`` beside the request's
    vector, so context can both shift item preferences and interact with the history. Without context and
    user features the block has no parameters and returns ``h`` unchanged.

    Args:
        dim: size ``D`` of ``h``.
        context_specs: one spec per context column (``SequenceBatch.context``), or empty.
        user_specs: the user feature columns (``SequenceBatch.user_features``), or empty.

    ``forward(h, context, user)``: ``h`` ``[B, L, D]`` with ``context`` ``[B, L, C]`` (training: the
    context each position predicts) or ``h`` ``[B, D]`` with ``context`` ``[B, C]`` (the request);
    ``user`` ``[B, K]``. Returns the fused ``h``'s shape.
    """

    def __init__(self, dim: int, context_specs: Sequence[FeatureSpec] = (),
                 user_specs: Sequence[FeatureSpec] = ()) -> None:
        super().__init__()
        self.uses_context = len(context_specs) > 0
        self.uses_user = len(user_specs) > 0
        self.enabled = self.uses_context or self.uses_user
        self.context = FeatureEmbedding(context_specs, dim)
        self.user = FeatureEmbedding(user_specs, dim)
        self.context_width = self.context.width
        self.user_width = self.user.width
        if self.enabled:
            self.mlp: nn.Module = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU(), nn.Linear(dim, dim))
        else:
            self.mlp = nn.Identity()

    def forward(
        self,
        h: Tensor,
        context: Optional[Tensor] = None,  # noqa: UP045 - TorchScript reads Optional[...]
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> Tensor:
        if not self.enabled:
            return h
        side = torch.zeros_like(h)
        if self.uses_context:
            if context is None:
                raise ValueError("this model reads the request context: pass context ids with "
                                 + str(self.context_width) + " columns")
            side = side + self.context.content(context).to(h.dtype)
        if self.uses_user:
            if user is None:
                raise ValueError("this model reads user features: pass user feature ids with "
                                 + str(self.user_width) + " columns")
            vector = self.user.content(user).to(h.dtype)  # [B, D]
            side = side + (vector.unsqueeze(1) if h.dim() == 3 else vector)
        return h + self.mlp(torch.cat([h, side], dim=-1))
