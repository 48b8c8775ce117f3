"""EASE: the closed-form shallow linear autoencoder of Steck (2019) on the user x item training matrix."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from xsell.baselines.inputs import popularity_tie_breaker, user_item_matrix
from xsell.data.batch import SequenceBatch
from xsell.data.sequences import EncodedLog


class EASE:
    """Embarrassingly Shallow Autoencoder (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data",
    WWW 2019).

    With ``X`` the binary ``[U, M]`` matrix of users' training items::

        P = (X^T X + l2 * I)^-1
        B = I - P diag(1 / diag(P))      # i.e. B[i, j] = -P[i, j] / P[j, j], B[j, j] = 0
        score(history) = x B             # x: the binary [M] indicator of the history's items

    The inverse of an ``M x M`` matrix costs ``O(M^3)`` time and ``8 M^2`` bytes (float64), so ``max_items``
    restricts the model to the ``M`` items with the most training events: the others get no column in
    ``X`` (their events are ignored), score exactly 0 before the tie-breaker, and do not count as evidence
    in a history. Every item's score then gets ``tie_break * count / max count`` added, so items without
    evidence are ordered by popularity. EASE scores can be negative, so an item outside the ``max_items``
    ranks above restricted items with a negative score and below those with a positive one.

    Args:
        l2: the ridge penalty lambda (Steck uses 200-3000 depending on the data set).
        max_items: keep only this many most popular items (None = every item; ~2 GB of float32 and
            minutes of CPU time per 16k items).
        full_history: score from the user's full history (``batch.exclude``) instead of the model input
            ``batch.items`` (the last ``max_len`` events, what the neural models see).
        tie_break: weight of the popularity tie-breaker.
    """

    def __init__(self, l2: float = 500.0, max_items: int | None = None, full_history: bool = False,
                 tie_break: float = 1e-6) -> None:
        if l2 <= 0:
            raise ValueError(f"l2 must be > 0, got {l2}")
        self.l2, self.max_items, self.full_history, self.tie_break = l2, max_items, full_history, tie_break
        self.items: Tensor | None = None  # [M] item indices that have a column
        self.column: Tensor | None = None  # [N] column of each item index, -1 when it has none
        self.weights: Tensor | None = None  # [M, M] float32 B
        self.prior: Tensor | None = None  # [N] popularity tie-breaker

    def fit(self, log: EncodedLog) -> EASE:
        """Solve the closed form on the (restricted) binary user x item training matrix."""
        counts = log.training_item_counts()
        known = np.flatnonzero(counts > 0)
        if self.max_items is not None and len(known) > self.max_items:
            known = known[np.argsort(-counts[known], kind="stable")[: self.max_items]]
        items = np.sort(known)
        x = user_item_matrix(log)[:, items]  # [U, M]
        gram = torch.from_numpy((x.T @ x).toarray())  # [M, M] float64
        gram.diagonal().add_(self.l2)
        precision = torch.cholesky_inverse(torch.linalg.cholesky(gram))  # P, symmetric positive definite
        weights = precision / -precision.diagonal()  # B[i, j] = -P[i, j] / P[j, j]
        weights.diagonal().zero_()
        column = torch.full((len(log.item_vocab),), -1, dtype=torch.long)
        column[torch.from_numpy(items)] = torch.arange(len(items))
        self.items, self.column = torch.from_numpy(items).long(), column
        self.weights = weights.float()
        self.prior = torch.from_numpy(popularity_tie_breaker(counts, self.tie_break)).float()
        return self

    def score(self, batch: SequenceBatch) -> Tensor:
        """``[B, N]`` ``x B`` for the restricted items, 0 for the rest, plus the tie-breaker."""
        if self.weights is None:
            raise RuntimeError("EASE.fit() must run before score()")
        history = batch.exclude if self.full_history else batch.items
        if history is None:
            raise ValueError("full_history=True needs batches with exclude (the full history)")
        column = self.column[history.detach().cpu()]  # [B, L]; -1 for padding, unknown, unrestricted
        present = torch.zeros(len(batch), self.weights.shape[0] + 1)  # [B, M + 1], last column: no column
        present.scatter_(1, torch.where(column >= 0, column, self.weights.shape[0]), 1.0)
        restricted = present[:, :-1] @ self.weights  # [B, M]
        scores = self.prior.expand(len(batch), -1).clone()
        scores[:, self.items] += restricted
        return scores.to(batch.items.device)
