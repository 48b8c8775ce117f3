"""GRU4Rec (Hidasi et al., ICLR 2016; Hidasi & Karatzoglou, CIKM 2018): a recurrent next-item model.

1. Each history item becomes its item vector (plus optional event-type / time-gap context; no positions:
   the recurrence orders the sequence), with dropout on the embeddings.
2. GRU layers read the history from oldest to newest. Left padding is moved to the right and packed, so
   padding never touches the hidden state: a history's representation does not depend on how much
   padding surrounds it.
3. The hidden state after each item, projected to the item-vector size, scores the next item against the
   tied item table (the official implementation's "constrained embedding"), or a separate or offset output
   table (``output_table``).
4. To encode a history for prediction only the state after its last item is needed: the final state of the
   packed run, whose cost follows the real history lengths (short histories padded to ``max_len`` cost
   what they hold). Scripted and exported models (TorchScript, ``torch.export``) need static shapes, so they
   run the GRU unpacked over the right-aligned history and read it at the last item: a GRU is causal, so
   the padding after that item never reaches it and both give the same state.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from xsell.models.base import SequenceInput, SequenceModel
from xsell.models.inputs import InputSpec
from xsell.nn.embeddings import RequestFeatures
from xsell.nn.transformer import normal_init


class GRU4Rec(SequenceModel):
    """Recurrent next-item model.

    Args:
        inputs: the data's sizes (:class:`xsell.models.inputs.InputSpec`). dim: item-vector size ``D``.
        hidden: GRU state size (defaults to ``dim``). layers: stacked GRU layers.
        dropout: embedding dropout. hidden_dropout: dropout on the GRU output.
        init_std: initialise the input embeddings (and a separate output table) ``N(0, init_std)``; None keeps
            ``N(0, 1/D)``. The official code starts its item table near ``U(-s, s)``, ``s = sqrt(6 / (N + D))``.
        output_table: ``tied`` (the official implementation's ``constrained_embedding``), ``separate`` or
            ``offset`` (``SequenceModel.set_output_table``). output_bias: a learned per-item score bias
            (``SequenceModel.set_output_table``; representations and item vectors then have ``D + 1`` columns).
        Other arguments as :class:`xsell.models.transformer_base.TransformerSequenceModel`.
    """

    def __init__(
        self,
        inputs: InputSpec | int | None = None,
        dim: int = 64,
        hidden: int | None = None,
        layers: int = 1,
        dropout: float = 0.2,
        hidden_dropout: float = 0.0,
        init_std: float | None = None,
        output_table: str = "tied",
        output_bias: bool = False,
        **sizes: Any,
    ) -> None:
        super().__init__()
        inputs = InputSpec.of(inputs, **sizes)
        hidden = hidden or dim
        self.max_len = inputs.max_len
        self.input = SequenceInput(inputs, dim, dropout, positions=False, scale=False)
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True)
        self.output_dropout = nn.Dropout(hidden_dropout)
        self.project = nn.Linear(hidden, dim) if hidden != dim else nn.Identity()
        self.request = RequestFeatures(dim, inputs.context_specs, inputs.user_specs)
        if init_std is not None:
            normal_init(self.input, init_std)
        self.set_output_table(output_table, inputs.num_items, dim, std=init_std, bias=output_bias)

    def history_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        length = x.shape[1]
        lengths, to_right, to_left = self._alignment(items)
        right = x.gather(1, to_right.unsqueeze(-1).expand_as(x))
        packed = pack_padded_sequence(right, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.gru(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=length)  # [B, L, H]
        output = output.gather(1, to_left.unsqueeze(-1).expand(-1, -1, output.shape[-1]))  # back to left padding
        return self.project(self.output_dropout(output))  # [B, L, D]

    @torch.jit.export
    def encode_sequence(
        self,
        items: Tensor,
        events: Tensor,
        time_gaps: Tensor,
        context: Optional[Tensor] = None,  # noqa: UP045 - TorchScript reads Optional[...]
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> Tensor:
        """The state after the last item (equal to ``sequence_output(...)[:, -1]``), fused with the request."""
        items, events, time_gaps = items[:, -self.max_len:], events[:, -self.max_len:], time_gaps[:, -self.max_len:]
        x = self.input(items, events, time_gaps)  # [B, L, D]
        lengths, to_right, _ = self._alignment(items)
        right = x.gather(1, to_right.unsqueeze(-1).expand_as(x))  # [B, L, D], right-padded
        if torch.jit.is_scripting():
            last = self._last_state_static(right, lengths)
        else:
            last = self._last_state(right, lengths)
        state = self.project(self.output_dropout(last))  # [B, D]
        return self.with_bias_column(self.request(state, context, user))

    def _last_state_static(self, right: Tensor, lengths: Tensor) -> Tensor:
        """``[B, L, D]`` right-padded -> ``[B, H]``: the unpacked run read at column ``n - 1`` (static shapes)."""
        output, _ = self.gru(right)  # [B, L, H]
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, output.shape[-1])  # [B, 1, H]
        return output.gather(1, last).squeeze(1)

    @torch.jit.unused
    def _last_state(self, right: Tensor, lengths: Tensor) -> Tensor:
        """``[B, L, D]`` right-padded -> ``[B, H]``: the packed run's final state (eager), or the static path
        while ``torch.export`` / ``torch.compile`` trace."""
        if torch.compiler.is_compiling():
            return self._last_state_static(right, lengths)
        packed = pack_padded_sequence(right, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, final = self.gru(packed)  # [layers, B, H], in the batch's order
        return final[-1]

    def _alignment(self, items: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """History lengths ``[B]`` (at least 1) and the column maps ``[B, L]`` from left to right padding
        (column j of the right-padded row is column j + (L - n) of the left one) and back."""
        length = items.shape[1]
        lengths = (items != 0).sum(1).clamp(min=1)  # [B]
        columns = torch.arange(length, device=items.device).unsqueeze(0)  # [1, L]
        offset = (length - lengths).unsqueeze(1)  # [B, 1]
        return lengths, (columns + offset) % length, (columns - offset) % length
