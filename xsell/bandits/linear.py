"""Sufficient statistics of Bayesian ridge regression, shared by LinUCB and linear Thompson sampling.

``A = ridge * I + sum(x x^T)`` and ``b = sum(r x)``; the posterior mean is ``A^-1 b`` and the posterior
covariance (up to the noise scale) ``A^-1``. Updates take a whole round of ``[n, d]`` features at once.
"""

from __future__ import annotations

import numpy as np


class RidgeStatistics:
    """``A`` ``[d, d]`` and ``b`` ``[d]`` of a ridge regression, updated in batches.

    Args:
        dim: feature dimension ``d``. ridge: prior precision (``A`` starts at ``ridge * I``).
    """

    def __init__(self, dim: int, ridge: float = 1.0) -> None:
        if dim < 1 or ridge <= 0:
            raise ValueError(f"need dim >= 1 and ridge > 0, got dim={dim}, ridge={ridge}")
        self.dim = dim
        self.precision = ridge * np.eye(dim)  # A [d, d]
        self.moment = np.zeros(dim)  # b [d]
        self._inverse: np.ndarray | None = None

    def update(self, features: np.ndarray, rewards: np.ndarray) -> None:
        """Add ``[n, d]`` features and their ``[n]`` rewards."""
        features = np.asarray(features, dtype=np.float64).reshape(-1, self.dim)
        self.precision += features.T @ features
        self.moment += features.T @ np.asarray(rewards, dtype=np.float64).reshape(-1)
        self._inverse = None

    def covariance(self) -> np.ndarray:
        """``A^-1`` ``[d, d]`` (cached until the next update)."""
        if self._inverse is None:
            self._inverse = np.linalg.inv(self.precision)
        return self._inverse

    def mean(self) -> np.ndarray:
        """Posterior mean ``theta = A^-1 b`` ``[d]``."""
        return self.covariance() @ self.moment
