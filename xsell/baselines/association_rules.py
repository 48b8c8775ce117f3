"""AssociationRules: "bought X also bought Y" pair rules over users' training baskets."""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
import torch
from torch import Tensor

from xsell.baselines.inputs import (
    history_query,
    popularity_tie_breaker,
    user_item_matrix,
)
from xsell.data.batch import SequenceBatch
from xsell.data.sequences import EncodedLog
from xsell.data.vocabulary import Vocabulary

Metric = Literal["lift", "confidence"]
Aggregate = Literal["max", "sum"]


class AssociationRules:
    """Single-item rules ``X -> Y`` mined from baskets (Agrawal et al. 1993).

    A basket is the set of a user's training items; with ``U`` the number of non-empty baskets, ``n(X)``
    the baskets holding ``X`` and ``n(X, Y)`` those holding both::

        support(X -> Y)    = n(X, Y) / U
        confidence(X -> Y) = n(X, Y) / n(X)
        lift(X -> Y)       = confidence(X -> Y) / (n(Y) / U)

    Rules with ``support >= min_support`` and ``confidence >= min_confidence`` are kept (``X != Y``). A
    history fires the rules whose antecedent is among its last ``history`` items; an item's score is the
    largest (``aggregate="max"``) or the summed (``"sum"``) ``metric`` of the fired rules that end in it,
    plus ``tie_break * count / max count`` so that items no rule reaches are ordered by popularity.

    Args:
        min_support: minimum rule support, a fraction of baskets in [0, 1].
        min_confidence: minimum rule confidence in [0, 1].
        metric: ``"lift"`` or ``"confidence"``, the rule strength used for scoring and for :meth:`rules`.
        history: newest history items whose rules fire (None = the whole batch history).
        aggregate: ``"max"`` or ``"sum"`` over the fired rules of an item. tie_break: popularity weight.
    """

    def __init__(
        self,
        min_support: float = 0.0,
        min_confidence: float = 0.0,
        metric: Metric = "confidence",
        history: int | None = 10,
        aggregate: Aggregate = "max",
        tie_break: float = 1e-6,
    ) -> None:
        if metric not in ("lift", "confidence"):
            raise ValueError(f"metric must be 'lift' or 'confidence', got {metric!r}")
        if aggregate not in ("max", "sum"):
            raise ValueError(f"aggregate must be 'max' or 'sum', got {aggregate!r}")
        self.min_support, self.min_confidence = min_support, min_confidence
        self.metric, self.history, self.aggregate, self.tie_break = metric, history, aggregate, tie_break
        self.antecedent: np.ndarray | None = None  # [R] item index of X
        self.consequent: np.ndarray | None = None  # [R] item index of Y
        self.support: np.ndarray | None = None  # [R]
        self.confidence: np.ndarray | None = None  # [R]
        self.lift: np.ndarray | None = None  # [R]
        self.strength: sp.csr_matrix | None = None  # [N, N] metric of X -> Y at row X, column Y
        self.prior: np.ndarray | None = None  # [N] popularity tie-breaker
        self.item_vocab: Vocabulary | None = None

    def fit(self, log: EncodedLog) -> AssociationRules:
        """Mine every pair rule from the training baskets and keep those above the thresholds."""
        baskets = user_item_matrix(log)  # [U, N] binary
        num_baskets = max(int((baskets.getnnz(axis=1) > 0).sum()), 1)
        both = (baskets.T @ baskets).tocoo()  # [N, N] n(X, Y); the diagonal is n(X)
        holding = both.diagonal() if both.nnz else np.zeros(both.shape[0])
        x, y, n_xy = both.row, both.col, both.data
        support = n_xy / num_baskets
        confidence = n_xy / holding[x]
        lift = confidence / (holding[y] / num_baskets)
        keep = (x != y) & (support >= self.min_support) & (confidence >= self.min_confidence)
        self.antecedent, self.consequent = x[keep].astype(np.int64), y[keep].astype(np.int64)
        self.support, self.confidence, self.lift = support[keep], confidence[keep], lift[keep]
        values = self.lift if self.metric == "lift" else self.confidence
        self.strength = sp.csr_matrix((values, (self.antecedent, self.consequent)), shape=both.shape)
        self.prior = popularity_tie_breaker(log.training_item_counts(), self.tie_break)
        self.item_vocab = log.item_vocab
        return self

    def rules(self, top: int | None = None) -> pl.DataFrame:
        """The kept rules, strongest first (by ``metric``, then support), with decoded item ids.

        Columns: ``antecedent``, ``consequent`` (String item ids), ``support``, ``confidence``, ``lift``.
        """
        if self.strength is None:
            raise RuntimeError("AssociationRules.fit() must run before rules()")
        frame = pl.DataFrame({
            "antecedent": self.item_vocab.decode(self.antecedent),
            "consequent": self.item_vocab.decode(self.consequent),
            "support": self.support,
            "confidence": self.confidence,
            "lift": self.lift,
        }, schema={"antecedent": pl.String, "consequent": pl.String, "support": pl.Float64,
                   "confidence": pl.Float64, "lift": pl.Float64})
        frame = frame.sort([self.metric, "support", "antecedent", "consequent"],
                           descending=[True, True, False, False])
        return frame if top is None else frame.head(top)

    def score(self, batch: SequenceBatch) -> Tensor:
        """``[B, N]`` strongest (or summed) rule metric reaching each item from the recent history."""
        if self.strength is None:
            raise RuntimeError("AssociationRules.fit() must run before score()")
        query = history_query(batch, self.strength.shape[0], self.history)  # [B, N] weights > 0 where fired
        query.data[:] = 1.0  # a rule fires once however often its antecedent was seen
        if self.aggregate == "sum":
            scores = torch.from_numpy((query @ self.strength).toarray())
        else:
            rows = np.repeat(np.arange(query.shape[0]), np.diff(query.indptr))
            fired = self.strength[query.indices].tocoo()  # [F, N] one row per (history row, antecedent)
            flat = torch.from_numpy(rows[fired.row] * query.shape[1] + fired.col)
            scores = torch.zeros(query.shape[0] * query.shape[1], dtype=torch.float64)
            scores = scores.scatter_reduce_(0, flat, torch.from_numpy(fired.data), "amax").view(query.shape)
        return (scores + torch.from_numpy(self.prior)).float().to(batch.items.device)
