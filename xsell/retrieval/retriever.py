"""Candidate generation: a two-tower's query tower over a FAISS index of its item tower.

``Retriever.retrieve(histories, k)`` takes histories of item ids (or a ``SequenceBatch``), encodes them with
the query tower and returns the ``k`` nearest items (by inner product), never the padding or unknown item,
and by default none of the items the user already has.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from xsell.data.batch import SequenceBatch
from xsell.data.schema import FIRST_INDEX, PAD_INDEX
from xsell.data.vocabulary import Vocabulary
from xsell.retrieval.index import ItemIndex, SearchResult


@torch.no_grad()
def build_item_index(model: nn.Module, vocab: Vocabulary, *, factory: str = "Flat", search_params: str = "",
                     seed: int = 0) -> ItemIndex:
    """Index every known item of ``vocab`` by the model's item vectors (``item_embeddings()[2:]``, in eval
    mode); the index's factory string and search parameters as :meth:`ItemIndex.build`."""
    was_training = model.training
    model.eval()
    vectors = model.item_embeddings()[FIRST_INDEX:len(vocab)].float().cpu().numpy()  # [n, D]
    model.train(was_training)
    keys = np.arange(FIRST_INDEX, len(vocab), dtype=np.int64)
    return ItemIndex.build(vectors, vocab.ids, keys, factory=factory, search_params=search_params, seed=seed)


class Retriever:
    """Query tower + item index.

    Args:
        model: any model with ``encode_sequence(items, events, time_gaps) -> [B, D]`` (a ``TwoTower``).
        index: the item index (``build_item_index`` of the same model).
        vocab: the item vocabulary the model was trained with (ids -> indices of histories).
        max_len: longest history passed to the model.
    """

    def __init__(self, model: nn.Module, index: ItemIndex, vocab: Vocabulary, max_len: int = 50) -> None:
        self.model = model
        self.index = index
        self.vocab = vocab
        self.max_len = max_len

    @torch.no_grad()
    def encode(self, batch: SequenceBatch) -> np.ndarray:
        """``[B, D]`` query vectors (float32) of a batch of histories."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model.encode_sequence(batch.items, batch.events, batch.time_gaps).float().cpu().numpy()
        finally:
            self.model.train(was_training)

    def batch(self, histories: Sequence[Sequence[str]]) -> SequenceBatch:
        """Item-id histories (oldest first) -> a left-padded ``SequenceBatch`` (no event types or time gaps;
        ids the vocabulary does not know become the unknown index)."""
        width = max([min(len(h), self.max_len) for h in histories] + [1])
        items = torch.full((len(histories), width), PAD_INDEX, dtype=torch.long)
        for row, history in enumerate(histories):
            recent = [self.vocab.index(i) for i in list(history)[-width:]]
            if recent:
                items[row, width - len(recent):] = torch.tensor(recent)
        return SequenceBatch(items=items, events=torch.zeros_like(items), time_gaps=torch.zeros_like(items),
                             exclude=items)

    def retrieve(self, histories: Sequence[Sequence[str]] | SequenceBatch, k: int,
                 exclude_seen: bool = True) -> SearchResult:
        """The ``k`` best items per history (ids and scores, best first); ``exclude_seen`` drops the items
        of the history (for a ``SequenceBatch``: its ``exclude`` column, else its items)."""
        batch = histories if isinstance(histories, SequenceBatch) else self.batch(histories)
        exclude = None
        if exclude_seen:
            seen = batch.exclude if batch.exclude is not None else batch.items
            exclude = seen.cpu().numpy().astype(np.int64)
        return self.index.search(self.encode(batch), k, exclude)
