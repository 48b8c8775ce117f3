from __future__ import annotations

import numpy as np
import pytest

from xsell.bandits import RidgeStatistics


def test_ridge_recovers_a_noiseless_linear_model():
    rng = np.random.default_rng(0)
    theta = np.array([0.5, -1.0, 2.0])
    features = rng.normal(size=(200, 3))
    statistics = RidgeStatistics(3, ridge=1e-6)
    statistics.update(features[:100], features[:100] @ theta)
    statistics.update(features[100:], features[100:] @ theta)  # batches add up
    assert statistics.mean() == pytest.approx(theta, abs=1e-6)
    assert np.allclose(statistics.covariance() @ statistics.precision, np.eye(3))
    with pytest.raises(ValueError):
        RidgeStatistics(0)
