"""Linear Thompson sampling (Agrawal & Goyal 2013): each session scores the candidates with its own draw
``theta ~ N(A^-1 b, scale^2 A^-1)`` and shows the best one."""

from __future__ import annotations

import numpy as np

from xsell.bandits.linear import RidgeStatistics


class LinearThompson:
    """Posterior sampling over a linear reward model.

    Args:
        dim: feature dimension. scale: posterior standard-deviation multiplier (exploration).
        ridge: prior precision. seed: seeds the posterior draws.
    """

    def __init__(self, dim: int, scale: float = 0.5, ridge: float = 1.0, seed: int = 0) -> None:
        self.scale = scale
        self.statistics = RidgeStatistics(dim, ridge)
        self.rng = np.random.default_rng(seed)

    def choose(self, features: np.ndarray, available: np.ndarray) -> np.ndarray:
        """``[S]`` chosen candidate per session from ``[S, A, d]`` features; only ``available`` ``[S, A]`` ones."""
        covariance = self.statistics.covariance()
        root = np.linalg.cholesky((covariance + covariance.T) / 2)  # [d, d]
        noise = self.rng.standard_normal((features.shape[0], root.shape[0]))  # [S, d]
        theta = self.statistics.mean()[None, :] + self.scale * noise @ root.T  # [S, d] one draw per session
        sampled = np.einsum("sad,sd->sa", features, theta)  # [S, A]
        return np.where(available, sampled, -np.inf).argmax(axis=1)

    def update(self, features: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from the ``[S, d]`` features of the shown candidates and their ``[S]`` rewards."""
        self.statistics.update(features, rewards)
