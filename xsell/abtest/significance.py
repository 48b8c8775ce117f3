"""Significance tests for two independent arms: two-proportion z-test for rates, Welch's t-test and a
bootstrap for means and ratios of means (average order value).

Every test returns a :class:`TestResult`: the arms' estimates, the difference ``b - a`` with its confidence
interval and a two-sided p-value. scipy (a dependency of xsell) supplies Welch's test.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
from scipy import stats

from xsell.stats import bootstrap_means

_NORMAL = NormalDist()


@dataclass(frozen=True)
class TestResult:
    """Arm ``b`` against arm ``a``: ``difference = estimate_b - estimate_a``, its CI (``low``, ``high``) and the
    two-sided ``p_value`` of the named ``test``."""

    __test__ = False  # not a pytest test class

    test: str
    estimate_a: float
    estimate_b: float
    difference: float
    low: float
    high: float
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)


def two_proportion_ztest(successes_a: int, n_a: int, successes_b: int, n_b: int, *,
                         confidence: float = 0.95) -> TestResult:
    """Pooled two-proportion z-test of ``successes / n`` per arm; the CI of the difference is the unpooled
    (Wald) interval. Equal rates (or both 0 or 1) give ``p = 1``."""
    if min(n_a, n_b) < 1 or not (0 <= successes_a <= n_a and 0 <= successes_b <= n_b):
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes_a}/{n_a} and {successes_b}/{n_b}")
    p_a, p_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    null_se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    difference = p_b - p_a
    p_value = 1.0 if null_se == 0 else 2 * (1 - _NORMAL.cdf(abs(difference) / null_se))
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    z = _NORMAL.inv_cdf(0.5 + confidence / 2)
    return TestResult("two_proportion_z", p_a, p_b, difference, difference - z * se, difference + z * se,
                      min(p_value, 1.0))


def welch_ttest(a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95) -> TestResult:
    """Welch's unequal-variance t-test of the means of ``a`` and ``b`` (each ``[n]``, ``n >= 2``), with the
    Welch-Satterthwaite t interval of the difference."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if min(a.size, b.size) < 2:
        raise ValueError(f"Welch's test needs at least 2 values per arm, got {a.size} and {b.size}")
    difference = float(b.mean() - a.mean())
    if a.var() == 0 and b.var() == 0:  # two constant arms: the difference is known exactly
        return TestResult("welch_t", float(a.mean()), float(b.mean()), difference, difference, difference,
                          1.0 if difference == 0 else 0.0)
    result = stats.ttest_ind(b, a, equal_var=False)
    interval = result.confidence_interval(confidence)
    return TestResult("welch_t", float(a.mean()), float(b.mean()), difference, float(interval.low),
                      float(interval.high), float(result.pvalue))


def bootstrap_ratio_test(a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 2000,
                         seed: int = 0) -> TestResult:
    """Bootstrap test of a ratio of means, ``sum(numerator) / sum(denominator)`` per arm (average order value:
    order value over orders), or of a plain mean.

    Args:
        a, b: ``[n, 2]`` per-unit (numerator, denominator) of each arm, or ``[n]`` values (denominator 1).
        confidence: the percentile interval of the resampled ``b - a`` differences.
    The p-value is twice the smaller share of resampled differences on either side of 0 (at least
    ``1 / n_resamples``).
    """
    def resampled_ratio(values: np.ndarray, arm_seed: int) -> tuple[float, np.ndarray]:
        values = np.asarray(values, dtype=np.float64)
        values = np.stack([values, np.ones_like(values)], axis=1) if values.ndim == 1 else values
        if values[:, 1].sum() <= 0:
            raise ValueError("an arm has no denominator (e.g. no completed order): its ratio is undefined")
        means = bootstrap_means(values, n_resamples, arm_seed)  # [R, 2]
        ratios = np.divide(means[:, 0], means[:, 1], out=np.full(len(means), np.nan), where=means[:, 1] > 0)
        return values[:, 0].sum() / values[:, 1].sum(), ratios

    estimate_a, draws_a = resampled_ratio(a, seed)
    estimate_b, draws_b = resampled_ratio(b, seed + 1)  # independent arms, independent resamples
    differences = draws_b - draws_a
    differences = differences[np.isfinite(differences)]  # resamples that drew no denominator are dropped
    alpha = 1.0 - confidence
    low, high = np.quantile(differences, [alpha / 2, 1 - alpha / 2])
    tail = min((differences <= 0).mean(), (differences >= 0).mean())
    return TestResult("bootstrap", float(estimate_a), float(estimate_b), float(estimate_b - estimate_a),
                      float(low), float(high), float(min(1.0, max(2 * tail, 1.0 / n_resamples))))
