import itertools

import numpy as np
import pytest

from xsell.stats import bootstrap_ci, bootstrap_means, sign_flip_pvalue


def test_bootstrap_ci_covers_the_true_mean_at_the_nominal_rate():
    # 200 simulated data sets of 400 Bernoulli(0.3) hits, bootstrapped at once as 200 columns.
    hits = np.random.default_rng(42).binomial(1, 0.3, size=(400, 200)).astype(float)
    interval = bootstrap_ci(hits, n_resamples=1000, seed=1)
    covered = (interval.low <= 0.3) & (0.3 <= interval.high)
    assert 0.90 <= covered.mean() <= 0.99
    assert np.allclose(interval.estimate, hits.mean(0))
    # The width is what the normal approximation predicts: 2 * 1.96 * sqrt(0.3 * 0.7 / 400) ~ 0.090.
    assert np.mean(interval.high - interval.low) == pytest.approx(0.0898, abs=0.006)


def test_bootstrap_is_seeded_and_columns_share_their_draws():
    values = np.random.default_rng(0).random((50, 3))
    first = bootstrap_ci(values, seed=5)
    assert np.array_equal(first.low, bootstrap_ci(values, seed=5).low)
    assert not np.array_equal(first.low, bootstrap_ci(values, seed=6).low)
    column = bootstrap_ci(values[:, 1], seed=5)
    assert (column.estimate, column.low, column.high) == pytest.approx(
        (first.estimate[1], first.low[1], first.high[1]))
    assert (first.low <= first.estimate).all() and (first.estimate <= first.high).all()


def test_bootstrap_edge_cases():
    constant = bootstrap_ci(np.full(10, 0.25))
    assert (constant.estimate, constant.low, constant.high) == pytest.approx((0.25, 0.25, 0.25))
    empty = bootstrap_ci(np.zeros(0))
    assert np.isnan([empty.estimate, empty.low, empty.high]).all()
    assert bootstrap_means(np.arange(3.0), n_resamples=7).shape == (7, 1)
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.ones(3), confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples must be >= 1, got 0"):
        bootstrap_ci(np.ones(3), n_resamples=0)


def test_sign_flip_pvalue_matches_exact_enumeration():
    d = np.array([0.5, 0.2, -0.1, 0.4, 0.3, -0.2, 0.6, 0.1])
    flips = np.array(list(itertools.product([-1, 1], repeat=d.size)))
    exact = np.mean(np.abs(flips @ d) >= abs(d.sum()) - 1e-12)
    assert sign_flip_pvalue(d, n_resamples=20_000, seed=0) == pytest.approx(exact, abs=0.01)


def test_p_values_are_uniform_when_runs_do_not_differ():
    rng = np.random.default_rng(2)
    p_values = np.array([sign_flip_pvalue(rng.random(100) - rng.random(100), n_resamples=500, seed=s)
                         for s in range(200)])
    assert 0.01 <= np.mean(p_values < 0.05) <= 0.10
    assert np.mean(p_values) == pytest.approx(0.5, abs=0.07)
