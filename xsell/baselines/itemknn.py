"""ItemKNN: item-item cosine similarity from training co-occurrence, summed over a user's recent items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from torch import Tensor

from xsell.baselines.inputs import (
    history_query,
    popularity_tie_breaker,
    successor_pairs,
    to_scores,
    top_k_per_row,
    user_item_matrix,
)
from xsell.data.batch import SequenceBatch
from xsell.data.sequences import EncodedLog


class ItemKNN:
    """Item-based nearest neighbours (Sarwar et al. 2001; Linden et al. 2003) on training histories.

    Similarity of item ``i`` to item ``j`` (``i != j``)::

        sim(i, j) = C[i, j] / (sqrt(n[i] * n[j]) + shrink)

    - ``window=None`` (basket co-occurrence, symmetric): ``C[i, j]`` is the number of users with both
      ``i`` and ``j`` among their training events and ``n[i]`` the number of users with ``i``: the cosine
      of the binary user columns of ``i`` and ``j``, shrunk towards 0 for rarely seen pairs.
    - ``window=w`` (next-item aware, directed): ``C[i, j]`` is the number of times ``j`` follows ``i`` in the
      same user's training events at most ``w`` steps later, and ``n[i]`` the training events of ``i``.

    Only the ``k`` most similar neighbours of each item are kept (a sparse ``[N, N]`` matrix). A history is
    scored by its last ``history`` items, the newest weighted 1, the one before ``decay``, then
    ``decay**2``, ...::

        score(j) = sum_r decay**r * sim(item_r, j) + tie_break * count(j) / max count

    so items without any similarity are ordered by training popularity.

    Args:
        k: neighbours kept per item. shrink: added to the cosine denominator (0 = plain cosine).
        window: None for basket co-occurrence, or the successor window ``w >= 1``.
        history: how many of the newest history items are used (None = all in the batch).
        decay: recency weight per step back, in (0, 1]. tie_break: weight of the popularity tie-breaker.
    """

    def __init__(
        self,
        k: int = 100,
        shrink: float = 0.0,
        window: int | None = None,
        history: int | None = 10,
        decay: float = 1.0,
        tie_break: float = 1e-6,
    ) -> None:
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        self.k, self.shrink, self.window = k, shrink, window
        self.history, self.decay, self.tie_break = history, decay, tie_break
        self.similarity: sp.csr_matrix | None = None  # [N, N] row i: neighbours of item i
        self.prior: np.ndarray | None = None  # [N] popularity tie-breaker

    def fit(self, log: EncodedLog) -> ItemKNN:
        """Count co-occurrences among training events, normalise, keep the top ``k`` per item."""
        num_items = len(log.item_vocab)
        counts = log.training_item_counts()
        if self.window is None:
            baskets = user_item_matrix(log)
            co = (baskets.T @ baskets).tocsr()  # [N, N] users with both
            norm = co.diagonal()
        else:
            earlier, later, _ = successor_pairs(log, self.window)
            co = sp.csr_matrix((np.ones(len(earlier)), (earlier, later)), shape=(num_items, num_items))
            norm = counts
        co = co.tocoo()
        co.sum_duplicates()
        i, j, c = co.row, co.col, co.data
        off_diagonal = i != j
        i, j, c = i[off_diagonal], j[off_diagonal], c[off_diagonal]
        cosine = c / (np.sqrt(norm[i] * norm[j]) + self.shrink)
        similarity = sp.csr_matrix((cosine, (i, j)), shape=(num_items, num_items))
        self.similarity = top_k_per_row(similarity, self.k)
        self.prior = popularity_tie_breaker(counts, self.tie_break)
        return self

    def score(self, batch: SequenceBatch) -> Tensor:
        """``[B, N]`` summed similarities of the batch's recent history items to every item."""
        if self.similarity is None:
            raise RuntimeError("ItemKNN.fit() must run before score()")
        query = history_query(batch, self.similarity.shape[0], self.history, self.decay)  # [B, N]
        scores = (query @ self.similarity).toarray() + self.prior
        return to_scores(scores, batch)
