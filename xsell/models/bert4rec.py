"""BERT4Rec (Sun et al., CIKM 2019): a bidirectional transformer trained to fill in masked items.

1. Training inputs are histories where random items were replaced by a [MASK] token (the data module's
   Cloze objective); the model predicts the hidden items from both sides.
2. The encoder is the same pre-LN stack as SASRec without the causal mask (padding keys are hidden).
3. A small head (dense, GELU, LayerNorm) maps the output at a masked position into item-vector space,
   scored against the tied item table.
4. To predict the next item, [MASK] is appended to the history (the oldest item drops out when the
   history is already ``max_len`` long); the head's output at the mask is the user's representation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
from torch import Tensor, nn

from xsell.data.features import FeatureSpec
from xsell.models.base import SequenceInput, SequenceModel
from xsell.nn.embeddings import RequestFeatures
from xsell.nn.transformer import TransformerEncoder, normal_init, transformer_layout


class BERT4Rec(SequenceModel):
    """Bidirectional Cloze transformer. The mask token is index ``num_items`` (one past the catalog).

    Args: as :class:`xsell.models.sasrec.SASRec`.
    """

    objective = "cloze"

    def __init__(
        self,
        num_items: int,
        dim: int = 64,
        layers: int = 2,
        heads: int = 2,
        dropout: float = 0.2,
        max_len: int = 50,
        num_event_types: int = 0,
        num_time_gap_buckets: int = 0,
        feature_ids: Tensor | None = None,
        feature_specs: Sequence[FeatureSpec] = (),
        context_specs: Sequence[FeatureSpec] = (),
        user_specs: Sequence[FeatureSpec] = (),
        layout: str = "pre_ln",
        init_std: float | None = None,
        ffn_mult: int = 4,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.mask_index = num_items
        self.input = SequenceInput(
            num_items, dim, max_len, dropout, num_event_types=num_event_types,
            num_time_gap_buckets=num_time_gap_buckets, feature_ids=feature_ids, feature_specs=feature_specs,
            extra_tokens=1,
            scale=layout == "pre_ln",
        )
        self.encoder = TransformerEncoder(dim, layers, heads, dropout, causal=False,
                                          norm_first=transformer_layout(layout), ffn_mult=ffn_mult,
                                          activation=activation)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim))
        self.request = RequestFeatures(dim, context_specs, user_specs)
        if init_std is not None:
            normal_init(self.input, init_std)
            normal_init(self.encoder, init_std)
            normal_init(self.head, init_std)

    def history_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        return self.head(self.encoder(x, items))  # [B, L, D]

    def last_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        return self.head(self.encoder(x, items, last_only=True)[:, -1])  # [B, D]: the top block reads one query

    @torch.jit.export
    def encode_sequence(
        self,
        items: Tensor,
        events: Tensor,
        time_gaps: Tensor,
        context: Optional[Tensor] = None,  # noqa: UP045 - TorchScript reads Optional[...]
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> Tensor:
        """Append [MASK] (keeping the last ``max_len`` columns) and read the representation at the mask, fused
        with the request's ``[B, C]`` context (the masked event's) and ``[B, K]`` user features."""
        mask = torch.full_like(items[:, :1], self.mask_index)
        blank = torch.zeros_like(events[:, :1])
        items = torch.cat([items, mask], dim=1)[:, -self.max_len:]
        events = torch.cat([events, blank], dim=1)[:, -self.max_len:]
        time_gaps = torch.cat([time_gaps, blank], dim=1)[:, -self.max_len:]
        return self.request(self.last_output(items, events, time_gaps), context, user)
