"""The interface every xsell model shares, so that scoring is one matrix product.

- ``sequence_output(items, events, time_gaps, context=None, user=None) -> [B, L, D]``: a representation
  at every position (what training losses use);
- ``encode_sequence(items, events, time_gaps, context=None, user=None) -> [B, D]`` / ``encode(batch)``:
  the representation that predicts the next item after a history;
- ``item_embeddings() -> [N, D]``: the catalog's vectors (row 0 is padding, row 1 the unknown item).

Scores are ``encode(batch) @ item_embeddings().T``, which is what the evaluation, the FAISS index and the
exported scorer compute.

A subclass writes ``history_output(items, events, time_gaps) -> [B, L, D]`` (what it reads from the
history); the base class fuses the request's side (``RequestFeatures``: the context of the event being
predicted ``[B, L, C]`` / ``[B, C]`` and the user's features ``[B, K]``) into it, one block for every model.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from xsell.data.batch import SequenceBatch
from xsell.models.inputs import InputSpec
from xsell.nn.embeddings import ContextEmbedding, ItemEmbedding
from xsell.nn.transformer import normal_init


class SequenceInput(nn.Module):
    """Item vectors (ids + features) + context (positions, event types, time gaps), then dropout."""

    def __init__(
        self,
        inputs: InputSpec,
        dim: int,
        dropout: float,
        *,
        positions: bool = True,
        extra_tokens: int = 0,
        scale: bool = True,
    ) -> None:
        super().__init__()
        self.items = ItemEmbedding(inputs.num_items, dim, inputs.feature_ids, inputs.feature_specs, extra_tokens)
        self.context = ContextEmbedding(inputs.max_len, dim, inputs.num_event_types, inputs.num_time_gap_buckets,
                                        positions)
        self.dropout = nn.Dropout(dropout)
        self.scale = dim**0.5 if scale else 1.0  # sqrt(D) before pre-LN blocks; post-LN normalises the input

    def forward(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        """``[B, L]`` indices -> ``[B, L, D]``; padding positions are zero vectors before context."""
        x = self.items(items) * self.scale
        return self.dropout(self.context(x, events, time_gaps))


OUTPUT_TABLES = ("tied", "separate", "offset")


class SequenceModel(nn.Module):
    """Base class: subclasses define ``history_output`` and set ``self.input`` (a ``SequenceInput``),
    ``self.request`` (a ``RequestFeatures``) and ``self.max_len``. ``objective`` names the training batches
    the model needs (``causal``: every position predicts the next item; ``cloze``: masked items)."""

    objective = "causal"

    def __init__(self) -> None:
        super().__init__()
        self.output_items: nn.Embedding | None = None  # [N, D] unless the output table is tied
        self.output_offset = False
        self.output_bias: nn.Parameter | None = None  # [N] per-item score bias (``set_output_table``)

    def set_output_table(self, kind: str, num_items: int, dim: int, std: float | None = None,
                         bias: bool = False) -> None:
        """Which item vectors score the model's output (``item_embeddings``):

        - ``tied``: the input item table (both papers' choice; no extra parameters);
        - ``separate``: a free output table ``[N, D]`` (no fused features), so that "``j`` follows ``i``" need
          not mirror "``i`` follows ``j``";
        - ``offset``: the input table plus a free per-item offset that starts at zero: asymmetric where the
          training targets support it, and items seldom seen as targets keep their input vectors.

        A separate table starts ``N(0, std)`` (default ``D ** -0.5``, as the input table), an offset at zero.

        ``bias``: a learned per-item score bias (starting at zero), ``score = h . e_i + b_i``, so the model can
        learn how likely each item is regardless of the history (popularity) apart from the item's direction.
        Scoring stays one matrix product: the bias is the item vectors' last column, and the representations
        (``encode_sequence``, ``sequence_output``) end in a constant 1 (``D + 1`` columns both).
        """
        if kind not in OUTPUT_TABLES:
            raise ValueError(f"output_table must be one of {OUTPUT_TABLES}, got {kind!r}")
        if bias:
            self.output_bias = nn.Parameter(torch.zeros(num_items))
        if kind == "tied":
            return
        self.output_items = nn.Embedding(num_items, dim, padding_idx=0)
        self.output_offset = kind == "offset"
        if self.output_offset:
            nn.init.zeros_(self.output_items.weight)
        else:
            normal_init(self.output_items, dim**-0.5 if std is None else std)  # padding row stays zero

    def with_bias_column(self, hidden: Tensor) -> Tensor:
        """``[..., D]`` -> ``[..., D + 1]`` (a constant 1 appended) when the model has an output bias."""
        if self.output_bias is None:
            return hidden
        return torch.cat([hidden, torch.ones_like(hidden[..., :1])], dim=-1)

    def history_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        raise NotImplementedError

    def last_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        """``[B, L]`` -> ``[B, D]``: ``history_output`` at the last position (a model may compute only that)."""
        return self.history_output(items, events, time_gaps)[:, -1]

    def sequence_output(
        self,
        items: Tensor,
        events: Tensor,
        time_gaps: Tensor,
        context: Optional[Tensor] = None,  # noqa: UP045 - TorchScript reads Optional[...]
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> Tensor:
        """``[B, L]`` -> ``[B, L, D]``; ``context`` ``[B, L, C]`` is the context each position predicts."""
        return self.with_bias_column(self.request(self.history_output(items, events, time_gaps), context, user))

    @torch.jit.export
    def encode_sequence(
        self,
        items: Tensor,
        events: Tensor,
        time_gaps: Tensor,
        context: Optional[Tensor] = None,  # noqa: UP045
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> Tensor:
        """``[B, L]`` history (left-padded), the request's ``[B, C]`` context and ``[B, K]`` user features
        (when the model reads them) -> ``[B, D]`` next-item representation."""
        items, events, time_gaps = items[:, -self.max_len:], events[:, -self.max_len:], time_gaps[:, -self.max_len:]
        return self.with_bias_column(self.request(self.last_output(items, events, time_gaps), context, user))

    def forward(
        self,
        items: Tensor,
        events: Tensor,
        time_gaps: Tensor,
        context: Optional[Tensor] = None,  # noqa: UP045
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> Tensor:
        return self.encode_sequence(items, events, time_gaps, context, user)

    @torch.jit.export
    def item_embeddings(self) -> Tensor:
        """``[N, D]`` catalog vectors (see ``set_output_table``; ``[N, D + 1]`` with its ``bias``)."""
        if self.output_items is None:
            table = self.input.items.catalog()
        elif self.output_offset:
            table = self.input.items.catalog() + self.output_items.weight
        else:
            table = self.output_items.weight
        if self.output_bias is None:
            return table
        return torch.cat([table, self.output_bias.unsqueeze(1)], dim=1)

    @torch.jit.ignore
    def encode(self, batch: SequenceBatch) -> Tensor:
        """``SequenceBatch`` -> ``[B, D]`` (the last context column is the request's)."""
        context = None if batch.context is None else batch.context[:, -1]
        return self.encode_sequence(batch.items, batch.events, batch.time_gaps, context, batch.user_features)

    @torch.jit.ignore
    def score(self, batch: SequenceBatch) -> Tensor:
        """``[B, N]`` scores of every catalog item."""
        return self.encode(batch) @ self.item_embeddings().T
