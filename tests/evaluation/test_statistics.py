import itertools

import numpy as np
import polars as pl
import pytest

from xsell.evaluation.statistics import (
    bootstrap_ci,
    bootstrap_means,
    compare_runs,
    paired_comparison,
    sign_flip_pvalue,
)


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


def run(values, rows=None):
    rows = np.arange(len(values)) if rows is None else rows
    return pl.DataFrame({"row": rows, "target": rows + 2, "ndcg@10": values})


def test_paired_comparison_detects_a_clearly_better_run():
    rng = np.random.default_rng(0)
    base = rng.random(300) * 0.5
    better = base + 0.05 + rng.normal(0, 0.05, 300)
    result = paired_comparison(run(better), run(base[::-1].copy(), rows=np.arange(300)[::-1].copy()), "ndcg@10")
    assert result.count == 300
    assert result.difference == pytest.approx(np.mean(better - base))
    assert result.low > 0.03 and result.high < 0.07
    assert result.p_value < 0.001


def test_identical_runs_are_not_different():
    values = np.random.default_rng(1).random(200)
    result = paired_comparison(run(values), run(values), "ndcg@10")
    assert result.difference == 0.0 and result.low == 0.0 and result.high == 0.0
    assert result.p_value == 1.0


def test_p_values_are_uniform_when_runs_do_not_differ():
    rng = np.random.default_rng(2)
    p_values = np.array([sign_flip_pvalue(rng.random(100) - rng.random(100), n_resamples=500, seed=s)
                         for s in range(200)])
    assert 0.01 <= np.mean(p_values < 0.05) <= 0.10
    assert np.mean(p_values) == pytest.approx(0.5, abs=0.07)


def test_comparison_needs_the_same_targets():
    with pytest.raises(ValueError, match="do not hold the same targets"):
        paired_comparison(run(np.ones(3)), run(np.ones(4)), "ndcg@10")
    other = run(np.ones(3)).with_columns(pl.col("target") + 1)
    with pytest.raises(ValueError, match="3 rows have the same 'row' but different targets"):
        paired_comparison(run(np.ones(3)), other, "ndcg@10")


def test_compare_runs_computes_metrics_from_ranks():
    a = pl.DataFrame({"row": [0, 1, 2, 3], "rank": [1, 2, 50, 3]})
    b = pl.DataFrame({"row": [3, 2, 1, 0], "rank": [30, 50, 20, 1]})
    frame = compare_runs(a, b, ["recall@10", "mrr@10"], n_resamples=100, n_permutations=100)
    assert frame.get_column("metric").to_list() == ["recall@10", "mrr@10"]
    assert frame.get_column("mean_a").to_list() == pytest.approx([0.75, (1 + 0.5 + 1 / 3) / 4])
    assert frame.get_column("difference").to_list() == pytest.approx([0.5, (0.5 + 1 / 3) / 4])
