"""The typed batch that flows from the data module to the models."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class SequenceBatch:
    """A padded batch of histories (left-padded: the most recent event is in the last column).

    Attributes:
        items: ``[B, L]`` item indices (0 = padding; for Cloze training, masked positions hold the mask index).
        events: ``[B, L]`` event-type indices (0 = padding, 1 = unknown type).
        time_gaps: ``[B, L]`` time-gap buckets.
        item_features: ``[B, L, F]`` feature ids of each item, or None when the data has no item features.
        labels: ``[B, L]`` training labels: the next item (causal) or the hidden item (Cloze); 0 = no label.
        users: ``[B]`` user indices.
        target: ``[B]`` evaluation target item, or None in training batches.
        target_event: ``[B]`` event type of the evaluation target, or None.
        exclude: ``[B, M]`` items to exclude from the ranking (the full history; 0 pads), or None.
        row: ``[B]`` position of each target in the split log (a stable key to join two runs), or None.
    """

    items: Tensor
    events: Tensor
    time_gaps: Tensor
    item_features: Tensor | None = None
    labels: Tensor | None = None
    users: Tensor | None = None
    target: Tensor | None = None
    target_event: Tensor | None = None
    exclude: Tensor | None = None
    row: Tensor | None = None

    def __len__(self) -> int:
        return self.items.shape[0]
