"""Tiny hand-made logs and batches for the baseline tests."""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.datamodule import SequenceDataModule
from xsell.data.interactions import Interactions
from xsell.data.sequences import EncodedLog


def tiny_datamodule(sequences: dict[str, list[str]], max_len: int = 5) -> SequenceDataModule:
    """Each user's items in order (timestamp = position). Leave-one-out: for a user with 3+ events the
    last is the test target and the one before the validation target; shorter users only train."""
    rows = [(user, item, t) for user, items in sequences.items() for t, item in enumerate(items)]
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")
    dm = SequenceDataModule(Interactions(frame, name="tiny"), max_len=max_len, eval_batch_size=64)
    dm.setup()
    return dm


def index(log: EncodedLog, item: str) -> int:
    return log.item_vocab.index(item)


def history_batch(log: EncodedLog, histories: list[list[str]]) -> SequenceBatch:
    """Left-padded histories of item ids (an empty list: an all-padding row); exclude = the same items."""
    width = max(1, *(len(h) for h in histories))
    items = torch.zeros(len(histories), width, dtype=torch.long)
    for row, history in enumerate(histories):
        if history:
            items[row, width - len(history):] = torch.tensor([index(log, i) for i in history])
    return SequenceBatch(items=items, events=(items > 0).long(), time_gaps=(items > 0).long(),
                         exclude=items.clone())


def scores_by_id(log: EncodedLog, scores: Tensor, items: list[str]) -> np.ndarray:
    """``[B, len(items)]`` the scores of the named items."""
    return scores[:, [index(log, i) for i in items]].numpy()
