"""LinUCB (Li, Chu, Langford & Schapire 2010, shared linear model): show the candidate with the highest upper
confidence bound ``x^T theta + alpha * sqrt(x^T A^-1 x)``."""

from __future__ import annotations

import numpy as np

from xsell.bandits.linear import RidgeStatistics


class LinUCB:
    """Optimism in the face of uncertainty over a linear reward model.

    Args:
        dim: feature dimension. alpha: width of the confidence bonus (0: greedy on the ridge estimate).
        ridge: prior precision of the ridge regression.
    """

    def __init__(self, dim: int, alpha: float = 1.0, ridge: float = 1.0) -> None:
        self.alpha = alpha
        self.statistics = RidgeStatistics(dim, ridge)

    def choose(self, features: np.ndarray, available: np.ndarray) -> np.ndarray:
        """``[S]`` chosen candidate per session from ``[S, A, d]`` features; only ``available`` ``[S, A]`` ones."""
        mean = features @ self.statistics.mean()  # [S, A]
        width = np.sqrt(((features @ self.statistics.covariance()) * features).sum(axis=2))  # [S, A]
        return np.where(available, mean + self.alpha * width, -np.inf).argmax(axis=1)

    def update(self, features: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from the ``[S, d]`` features of the shown candidates and their ``[S]`` rewards."""
        self.statistics.update(features, rewards)
