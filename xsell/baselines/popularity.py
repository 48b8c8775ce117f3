"""MostPopular: every user gets the items most frequent in training, over all of it or a recent window."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.sequences import EncodedLog
from xsell.data.splits import TRAIN


class MostPopular:
    """Scores each item by its number of training events; the same scores for every user.

    Args:
        recent_fraction: None counts every training event. A fraction in (0, 1] counts only the
            ``ceil(recent_fraction * T)`` training events with the latest timestamps (T = training events;
            events tied with the oldest one kept are kept too): a global "what sells now" window. Items
            with equal recent counts are then ordered by their all-time training count.

    The encoded log has no timestamps, so the recent window needs them passed to :meth:`fit`, aligned row
    for row with the log. ``encode_split`` keeps ``split.events`` in order, so with a data module::

        MostPopular(recent_fraction=0.1).fit(prepared.log, timestamps=prepared.split.events["timestamp"].to_numpy())

    Only training events are counted; in a leave-one-out split the latest training events of some users
    may still be later in time than other users' targets (leave-one-out has no global cutoff).
    The window is meaningless for logs whose timestamps are only a line order, like the SASRec ``.txt``
    files.
    """

    def __init__(self, recent_fraction: float | None = None) -> None:
        if recent_fraction is not None and not 0.0 < recent_fraction <= 1.0:
            raise ValueError(f"recent_fraction must be in (0, 1], got {recent_fraction}")
        self.recent_fraction = recent_fraction
        self.counts: Tensor | None = None  # [N] training events per item (in the window)
        self.scores: Tensor | None = None  # [N] counts plus the all-time tie-breaker (< 1)

    def fit(self, log: EncodedLog, timestamps: np.ndarray | None = None) -> MostPopular:
        """Count training events per item index (only those in the recent window when one is set).

        Args:
            log: the encoded split.
            timestamps: ``[E]`` event times aligned with the log's flat arrays; needed only with
                ``recent_fraction``.
        """
        all_time = log.training_item_counts()
        if self.recent_fraction is None:
            counts, scores = all_time, all_time
        else:
            if timestamps is None:
                raise ValueError("recent_fraction needs the log's timestamps: fit(log, timestamps=...)")
            timestamps = np.asarray(timestamps)
            if timestamps.shape != log.item.shape:
                raise ValueError(f"timestamps has shape {timestamps.shape}, the log {log.item.shape}")
            train = log.part == TRAIN
            times = timestamps[train]
            keep = max(math.ceil(self.recent_fraction * len(times)), 1)
            oldest_kept = np.partition(times, len(times) - keep)[len(times) - keep]
            recent = log.item[train][times >= oldest_kept]
            counts = np.bincount(recent, minlength=len(log.item_vocab)).astype(np.float64)
            scores = counts + all_time / (all_time.max(initial=0.0) + 1.0)  # lexicographic: recent, then all
        self.counts = torch.from_numpy(counts.astype(np.float32))
        self.scores = torch.from_numpy(scores.astype(np.float32))
        return self

    def score(self, batch: SequenceBatch) -> Tensor:
        """``[B, N]`` scores (the item counts, broadcast)."""
        if self.scores is None:
            raise RuntimeError("MostPopular.fit() must run before score()")
        return self.scores.to(batch.items.device).expand(len(batch), -1)
