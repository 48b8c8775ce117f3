"""BERT4Rec (Sun et al., CIKM 2019): a bidirectional transformer trained to fill in masked items.

1. Training inputs are histories where random items were replaced by a [MASK] token (the data module's
   Cloze objective, each window masked anew ``cloze_copies`` times per epoch, 10 by default, as the paper's
   ``dupe_factor``); the model predicts the hidden items from both sides.
2. The encoder is the same pre-LN stack as SASRec without the causal mask (padding keys are hidden).
3. A small head (dense, GELU, LayerNorm) maps the output at a masked position into item-vector space,
   scored against the tied item table.
4. To predict the next item, [MASK] is appended to the history (the oldest item drops out when the
   history is already ``max_len`` long); the head's output at the mask is the user's representation.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from xsell.models.inputs import InputSpec
from xsell.models.transformer_base import TransformerSequenceModel


class BERT4Rec(TransformerSequenceModel):
    """Bidirectional Cloze transformer. The mask token is index ``num_items`` (one past the catalog).

    Args: as :class:`TransformerSequenceModel`.
    """

    objective = "cloze"
    causal = False
    extra_tokens = 1  # [MASK]

    def __init__(self, inputs: InputSpec | int | None = None, **options: Any) -> None:
        sizes = {k: options.pop(k) for k in list(options) if k in InputSpec.__dataclass_fields__}
        inputs = InputSpec.of(inputs, **sizes)
        super().__init__(inputs, **options)
        self.mask_index = inputs.num_items

    def output_head(self, dim: int) -> nn.Module:
        """Dense, GELU, LayerNorm: the masked position's output into item-vector space."""
        return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim))

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
        return self.with_bias_column(self.request(self.last_output(items, events, time_gaps), context, user))
