"""MostPopular: every user gets the items most frequent in training."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.sequences import EncodedLog
from xsell.data.splits import TRAIN


class MostPopular:
    """Scores each item by its number of training events; the same scores for every user."""

    def __init__(self) -> None:
        self.counts: Tensor | None = None

    def fit(self, log: EncodedLog) -> MostPopular:
        """Count training events per item index."""
        train_items = log.item[log.part == TRAIN]
        self.counts = torch.from_numpy(np.bincount(train_items, minlength=len(log.item_vocab)).astype(np.float32))
        return self

    def score(self, batch: SequenceBatch) -> Tensor:
        """``[B, N]`` scores (the item counts, broadcast)."""
        if self.counts is None:
            raise RuntimeError("MostPopular.fit() must run before score()")
        return self.counts.to(batch.items.device).expand(len(batch), -1)
