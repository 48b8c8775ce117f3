"""Torch data sets over a :class:`~xsell.data.prepared.PreparedData`: training windows and evaluation
targets, each indexed by a whole list of rows (``dataset[rows]`` is one ``SequenceBatch``), and the fixed
evaluation loader. No Lightning here: evaluation and export build their batches from these directly.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from xsell.data.batch import SequenceBatch
from xsell.data.features import FeatureTable
from xsell.data.feedback import EncodedFeedback
from xsell.data.prepared import Objective, PreparedData
from xsell.data.sampler import length_ordered_batches
from xsell.data.schema import PAD_INDEX
from xsell.data.sequences import EncodedLog, PackedSequences, PackedTargets, seen_items


def _trim(width: int, *columns: torch.Tensor) -> list[torch.Tensor]:
    """Keep the last ``width`` columns (left padding beyond the longest row of the batch is dropped)."""
    return [c[:, -width:] for c in columns]


class TrainingWindows(Dataset):
    """Training windows; ``dataset[list_of_indices]`` returns a whole ``SequenceBatch``.

    Causal: inputs are a window's first ``L`` items and labels its last ``L``. Cloze: each non-padding
    position is replaced by ``mask_index`` with probability ``mask_prob`` (at least one per row, the last
    when the coin masks none) and labelled with the hidden item. With probability ``mask_last_prob`` a row
    instead hides only its last item: the BERT4Rec paper's extra samples that look like next-item prediction
    (RecBole's ``ft_ratio``, drawn there per batch). With ``copies`` (Cloze only), each window enters an epoch
    that many times, masked anew each time: indices ``w, w + W, w + 2W, ...`` all read window ``w``.

    With ``feedback`` (causal only; ``packed`` must carry ``rows``), each input position also carries the
    survey answers given after its event (``feedback_items`` / ``feedback_helpful``, ``[B, L, K]``): the
    answers of the position that predicts the next item.

    With ``stride`` (causal windows packed with the same ``stride``), only each window's last ``stride``
    labels are kept: the windows overlap and every event is trained once.
    """

    def __init__(
        self,
        packed: PackedSequences,
        features: FeatureTable | None,
        objective: Objective,
        *,
        mask_index: int = 0,
        mask_prob: float = 0.2,
        mask_last_prob: float = 0.0,
        seed: int = 0,
        feedback: EncodedFeedback | None = None,
        user_features: FeatureTable | None = None,
        stride: int | None = None,
        copies: int = 1,
    ) -> None:
        self.stride = stride
        if feedback is not None and (objective != "causal" or packed.rows is None):
            raise ValueError("explicit feedback needs causal training windows packed with rows=True")
        self.feedback = feedback
        self.rows = packed.rows
        self.items = torch.from_numpy(packed.items.astype(np.int64))
        self.events = torch.from_numpy(packed.events.astype(np.int64))
        self.time_gaps = torch.from_numpy(packed.time_gaps.astype(np.int64))
        self.users = torch.from_numpy(packed.users.astype(np.int64))
        self.lengths = (self.items != PAD_INDEX).sum(1)  # [W]
        self._copy(objective, copies)
        self.context = None if packed.context is None else torch.from_numpy(packed.context.astype(np.int64))
        self.user_features = None if user_features is None else torch.from_numpy(user_features.ids)
        self.features = None if features is None else torch.from_numpy(features.ids)
        if self.features is not None and objective == "cloze":  # the mask token has no features
            self.features = torch.cat([self.features, self.features.new_zeros(1, self.features.shape[1])])
        self.objective = objective
        self.mask_index = mask_index
        self.mask_prob = mask_prob
        self.mask_last_prob = mask_last_prob
        self.generator = torch.Generator().manual_seed(seed)

    def _copy(self, objective: Objective, copies: int) -> None:
        """Enter each of the ``W`` windows ``copies`` times per epoch (``lengths`` becomes ``[copies * W]``)."""
        if copies < 1 or (copies > 1 and objective != "cloze"):
            raise ValueError(f"copies must be >= 1 (and 1 for {objective!r} windows: only Cloze masks differ "
                             f"between copies), got {copies}")
        self.windows = len(self.lengths)
        self.lengths = self.lengths.repeat(copies)  # what the batch sampler shuffles and groups by

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: list[int]) -> SequenceBatch:
        index = torch.as_tensor(index) % self.windows
        width = max(int(self.lengths[index].max()), 2)
        items, events, gaps = _trim(width, self.items[index], self.events[index], self.time_gaps[index])
        context = None if self.context is None else self.context[index][:, -width:]  # [B, T, C]
        if self.objective == "causal":
            inputs = items[:, :-1]
            labels = items[:, 1:].masked_fill(inputs == PAD_INDEX, PAD_INDEX)  # a user's first event: no label
            if self.stride is not None and self.stride < labels.shape[1]:
                labels[:, :-self.stride] = PAD_INDEX  # trained in a later window of the same user
            events, gaps = events[:, :-1], gaps[:, :-1]
            context = None if context is None else context[:, 1:]  # position t predicts event t + 1
        else:
            inputs, labels = self._mask(items)  # a masked position predicts its own event
        feedback_items = feedback_helpful = None
        if self.feedback is not None:
            rows = self.rows[index.numpy()][:, -width:-1]  # [B, L] log rows of the input events
            answered, helpful = self.feedback.gather(rows)  # [B, L, K]
            feedback_items, feedback_helpful = torch.from_numpy(answered.astype(np.int64)), torch.from_numpy(helpful)
        return SequenceBatch(
            items=inputs,
            events=events,
            time_gaps=gaps,
            item_features=None if self.features is None else self.features[inputs],
            labels=labels,
            users=self.users[index],
            feedback_items=feedback_items,
            feedback_helpful=feedback_helpful,
            context=context,
            user_features=None if self.user_features is None else self.user_features[self.users[index]],
        )

    def _mask(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real = items != PAD_INDEX  # [B, L]
        masked = (torch.rand(items.shape, generator=self.generator) < self.mask_prob) & real
        if self.mask_last_prob:
            last_only = torch.rand(items.shape[0], generator=self.generator) < self.mask_last_prob  # [B]
            masked[last_only] = False  # filled in below: a row with nothing masked hides its last item
        none = ~masked.any(dim=1)
        masked[none, -1] = real[none, -1]
        inputs = items.masked_fill(masked, self.mask_index)
        labels = items.masked_fill(~masked, PAD_INDEX)
        return inputs, labels


class EvaluationTargets(Dataset):
    """Validation or test targets; ``dataset[list_of_indices]`` returns a ``SequenceBatch`` whose
    ``exclude`` holds each user's full history (for optional exclusion of seen items)."""

    def __init__(self, log: EncodedLog, packed: PackedTargets, features: FeatureTable | None,
                 user_features: FeatureTable | None = None) -> None:
        self.log = log
        self.packed = packed
        self.items = torch.from_numpy(packed.items.astype(np.int64))
        self.events = torch.from_numpy(packed.events.astype(np.int64))
        self.time_gaps = torch.from_numpy(packed.time_gaps.astype(np.int64))
        self.users = torch.from_numpy(packed.users.astype(np.int64))
        self.target = torch.from_numpy(packed.target.astype(np.int64))
        self.target_event = torch.from_numpy(packed.target_event.astype(np.int64))
        self.lengths = (self.items != PAD_INDEX).sum(1)  # [N]
        self.features = None if features is None else torch.from_numpy(features.ids)
        self.user_features = None if user_features is None else torch.from_numpy(user_features.ids)
        self.context = None
        if packed.context is not None:  # what each position predicts: the next history event, then the target
            history = torch.from_numpy(packed.context.astype(np.int64))  # [N, L, C]
            target = torch.from_numpy(packed.target_context.astype(np.int64))  # [N, C]
            self.context = torch.cat([history[:, 1:], target.unsqueeze(1)], dim=1)  # [N, L, C]

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, index: list[int]) -> SequenceBatch:
        rows = np.asarray(index, dtype=np.int64)
        index = torch.from_numpy(rows)
        width = max(int(self.lengths[index].max()), 1)
        items, events, gaps = _trim(width, self.items[index], self.events[index], self.time_gaps[index])
        return SequenceBatch(
            items=items,
            events=events,
            time_gaps=gaps,
            item_features=None if self.features is None else self.features[items],
            users=self.users[index],
            target=self.target[index],
            target_event=self.target_event[index],
            exclude=torch.from_numpy(seen_items(self.log, self.packed, rows)),
            row=torch.from_numpy(self.packed.row[rows]),
            context=None if self.context is None else self.context[index][:, -width:],
            user_features=None if self.user_features is None else self.user_features[self.users[index]],
        )


def training_windows(prepared: PreparedData, *, mask_prob: float = 0.2, mask_last_prob: float = 0.0,
                     seed: int = 0, copies: int = 1) -> TrainingWindows:
    """The training windows of ``prepared`` for its objective (Cloze masking drawn from ``seed``)."""
    return TrainingWindows(
        prepared.windows, prepared.item_features, prepared.objective,
        mask_index=prepared.mask_index, mask_prob=mask_prob, mask_last_prob=mask_last_prob,
        seed=seed, feedback=prepared.feedback,
        user_features=prepared.user_features, stride=prepared.window_stride, copies=copies,
    )


def evaluation_targets(prepared: PreparedData, part: str) -> EvaluationTargets:
    """The ``validation`` (``val``) or ``test`` targets of ``prepared`` as a data set."""
    return EvaluationTargets(prepared.log, prepared.targets(part), prepared.item_features, prepared.user_features)


def target_loader(dataset: EvaluationTargets, batch_size: int, *, num_workers: int = 0, rank: int = 0,
                  num_replicas: int = 1) -> DataLoader:
    """Fixed batches of (``rank``'s share of) ``dataset``'s targets, ordered by history length; each batch
    carries its targets' ``row`` keys. Metrics do not depend on ``batch_size``."""
    sampler = length_ordered_batches(dataset.lengths, batch_size, num_replicas=num_replicas, rank=rank)
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers,
                      persistent_workers=num_workers > 0)


def evaluation_batches(prepared: PreparedData, part: str, batch_size: int = 128) -> DataLoader:
    """Every target of one part of ``prepared`` in fixed batches (see :func:`target_loader`)."""
    return target_loader(evaluation_targets(prepared, part), batch_size)
