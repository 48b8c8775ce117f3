"""The typed batch that flows from the data module to the models."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

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
        feedback_items: ``[B, L, K]`` items a survey answer rated after the event at each position (0 = none),
            or None (training batches of data with explicit feedback only; see ``xsell.data.feedback``).
        feedback_helpful: ``[B, L, K]`` bool, True where that answer was "helpful", or None.
        context: ``[B, L, C]`` context ids (device, time of day, ...) of the event that each position
            *predicts*, never its item: the next event's for causal training, the (masked) event's own for
            Cloze training; in evaluation batches the last column is the target's (the request's) context.
            None when the model reads no context.
        user_features: ``[B, K]`` feature ids of each row's user (segment, ...), or None.
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
    feedback_items: Tensor | None = None
    feedback_helpful: Tensor | None = None
    context: Tensor | None = None
    user_features: Tensor | None = None

    def __len__(self) -> int:
        return self.items.shape[0]

    def split(self, rows: int) -> list[SequenceBatch]:
        """Consecutive slices of at most ``rows`` rows (every tensor cut along its first dimension, views)."""
        if len(self) <= rows:
            return [self]
        parts = []
        for start in range(0, len(self), rows):
            cut = {f.name: getattr(self, f.name)[start:start + rows] for f in fields(self)
                   if getattr(self, f.name) is not None}
            parts.append(replace(self, **cut))
        return parts
