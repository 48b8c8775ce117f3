"""What a score rule is: an ``nn.Module`` that rewrites ``[B, N]`` scores item by item, given the history.

A rule reads the scores, the left-padded history ``items`` ``[B, L]`` and its ``events`` ``[B, L]``, and
returns new ``[B, N]`` scores where ``-inf`` means "never recommend". Scores are read as logits: a rule that
down-weights an item by a factor ``f`` adds ``log f`` (multiplies its softmax probability by ``f``).

Rules whose ``compiles`` is True read only per-item tensors and the history items, are TorchScript- and
torch.export-friendly, and can be compiled into the serving scorer (:mod:`xsell.export.scorer`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from xsell.data.schema import FIRST_INDEX, PAD_INDEX


class ScoreRule(nn.Module):
    """Base class of score rules: ``forward(scores [B, N], items [B, L], events [B, L]) -> [B, N]``."""

    compiles: bool = True  # reads only item tables and history items: may go into the exported scorer

    def forward(self, scores: Tensor, items: Tensor, events: Tensor) -> Tensor:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The rule's name and settings (for manifests and reports)."""
        return {"rule": type(self).__name__}


def last_items(items: Tensor, count: int, first_index: int = FIRST_INDEX, pad_index: int = PAD_INDEX) -> Tensor:
    """``[B, L]`` left-padded history -> ``[B, count]``: its last ``count`` positions, padding and the
    unknown item as 0 (left-padded with 0 when the history is shorter)."""
    recent = torch.cat([items.new_zeros(items.shape[0], count), items], dim=1)[:, -count:]  # [B, count]
    return recent.masked_fill(recent < first_index, pad_index)  # defaults: TorchScript reads no globals


def check_positive(name: str, value: int) -> int:
    """``value`` if it is a positive integer, else a ``ValueError`` naming the setting."""
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
