"""GRU4Rec (Hidasi et al., ICLR 2016; Hidasi & Karatzoglou, CIKM 2018): a recurrent next-item model.

1. Each history item becomes its item vector (plus optional event-type / time-gap context; no positions:
   the recurrence orders the sequence), with dropout on the embeddings.
2. GRU layers read the history from oldest to newest. Left padding is moved to the right and packed, so
   padding never touches the hidden state: a history's representation does not depend on how much
   padding surrounds it.
3. The hidden state after each item, projected to the item-vector size, scores the next item against the
   tied item table (the official implementation's "constrained embedding").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from xsell.data.features import FeatureSpec
from xsell.models.base import SequenceInput, SequenceModel


class GRU4Rec(SequenceModel):
    """Recurrent next-item model.

    Args:
        num_items: item vocabulary size. dim: item-vector size ``D``.
        hidden: GRU state size (defaults to ``dim``). layers: stacked GRU layers.
        dropout: embedding dropout. hidden_dropout: dropout on the GRU output.
        max_len: longest history read. Other arguments as :class:`xsell.models.sasrec.SASRec`.
    """

    def __init__(
        self,
        num_items: int,
        dim: int = 64,
        hidden: int | None = None,
        layers: int = 1,
        dropout: float = 0.2,
        hidden_dropout: float = 0.0,
        max_len: int = 50,
        num_event_types: int = 0,
        num_time_gap_buckets: int = 0,
        feature_ids: Tensor | None = None,
        feature_specs: Sequence[FeatureSpec] = (),
    ) -> None:
        super().__init__()
        hidden = hidden or dim
        self.max_len = max_len
        self.input = SequenceInput(
            num_items, dim, max_len, dropout, positions=False, num_event_types=num_event_types,
            num_time_gap_buckets=num_time_gap_buckets, feature_ids=feature_ids, feature_specs=feature_specs,
        )
        self.input.scale = 1.0
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True)
        self.output_dropout = nn.Dropout(hidden_dropout)
        self.project = nn.Linear(hidden, dim) if hidden != dim else nn.Identity()

    def sequence_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        batch, length, _ = x.shape
        lengths = (items != 0).sum(1).clamp(min=1)  # [B]
        # Left-padded -> right-padded: column j of the right-padded row is column j + (L - n) of the left one.
        columns = torch.arange(length, device=items.device).unsqueeze(0)  # [1, L]
        offset = (length - lengths).unsqueeze(1)  # [B, 1]
        to_right = (columns + offset) % length  # [B, L]
        right = x.gather(1, to_right.unsqueeze(-1).expand_as(x))
        packed = pack_padded_sequence(right, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.gru(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=length)  # [B, L, H]
        # Back to left padding: column j of the left row is column j - (L - n) of the right one.
        to_left = (columns - offset) % length
        output = output.gather(1, to_left.unsqueeze(-1).expand(-1, -1, output.shape[-1]))
        return self.project(self.output_dropout(output))  # [B, L, D]
