"""Markov: first-order next-item probabilities from consecutive training events, smoothed to popularity."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from torch import Tensor

from xsell.baselines.inputs import last_items, successor_pairs, to_scores
from xsell.data.batch import SequenceBatch
from xsell.data.sequences import EncodedLog


class Markov:
    """First-order Markov chain over items, scored from the newest history item.

    With ``C[i, j]`` the number of times a user's training event ``i`` is directly followed by their
    training event ``j`` (``i -> i`` repeats included), ``C[i]`` its row sum and ``p(j)`` the share of
    training events on item ``j``::

        P(next = j | last = i) = (C[i, j] + alpha * p(j)) / (C[i] + alpha)

    i.e. add-alpha smoothing whose pseudo-counts are spread by popularity (a Dirichlet prior): an item
    never seen as a predecessor, the unknown item and an empty history back off to popularity ``p(j)``;
    a pair never observed after a well-seen ``i`` keeps a share ``alpha / (C[i] + alpha)`` of popularity.
    Pairs that end in a validation or test target are not counted (only training events are).

    Args:
        alpha: smoothing strength in pseudo-events, > 0.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = alpha
        self.transitions: sp.csr_matrix | None = None  # [N, N] counts C[i, j]
        self.outgoing: np.ndarray | None = None  # [N] C[i]
        self.popularity: np.ndarray | None = None  # [N] p(j)

    def fit(self, log: EncodedLog) -> Markov:
        """Count consecutive training pairs and training events per item."""
        num_items = len(log.item_vocab)
        earlier, later, _ = successor_pairs(log, 1)
        self.transitions = sp.csr_matrix((np.ones(len(earlier)), (earlier, later)), shape=(num_items, num_items))
        self.transitions.sum_duplicates()
        self.outgoing = np.asarray(self.transitions.sum(axis=1)).ravel()
        counts = log.training_item_counts()
        self.popularity = counts / max(counts.sum(), 1.0)
        return self

    def probabilities(self, last: np.ndarray) -> np.ndarray:
        """``[B, N]`` ``P(next = j | last = i)`` for each ``i`` in ``last`` (0 or 1: popularity)."""
        if self.transitions is None:
            raise RuntimeError("Markov.fit() must run before score()")
        denominator = (self.outgoing[last] + self.alpha)[:, None]
        return (self.transitions[last].toarray() + self.alpha * self.popularity) / denominator

    def score(self, batch: SequenceBatch) -> Tensor:
        """``[B, N]`` next-item probabilities given the newest item of each history."""
        return to_scores(self.probabilities(last_items(batch)), batch)
