from __future__ import annotations

import math

import numpy as np
import pytest

from xsell.abtest import bootstrap_ratio_test, two_proportion_ztest, welch_ttest


def test_two_proportion_ztest_by_hand():
    result = two_proportion_ztest(100, 1000, 130, 1000)
    pooled_se = math.sqrt(0.115 * 0.885 * 2 / 1000)
    z = 0.03 / pooled_se  # 2.1027
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert result.p_value == pytest.approx(0.0355, abs=5e-4)
    wald = 1.959964 * math.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)
    assert (result.low, result.high) == pytest.approx((0.03 - wald, 0.03 + wald), rel=1e-5)
    assert two_proportion_ztest(0, 10, 0, 10).p_value == 1.0
    with pytest.raises(ValueError):
        two_proportion_ztest(11, 10, 0, 10)


def test_welch_by_hand():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    result = welch_ttest(a, b)  # R: t.test(b, a) gives t = 2.2514, df = 5.5208, p-value = 0.06913
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    assert result.difference == pytest.approx(3.5)
    assert 3.5 / math.sqrt(va + vb) == pytest.approx(2.2514, abs=1e-4)
    assert (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) == pytest.approx(5.5208, abs=1e-4)
    assert result.p_value == pytest.approx(0.06913, abs=1e-5)
    assert result.low < 0 < result.high  # not significant at 5%: the interval covers 0
    assert welch_ttest(np.ones(5), np.ones(5)).p_value == 1.0


def test_bootstrap_ratio_test_finds_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    orders_a, orders_b = rng.random(2000) < 0.7, rng.random(2000) < 0.7
    value_a = np.where(orders_a, rng.gamma(2.0, 50.0, 2000), 0.0)  # AOV 100
    value_b = np.where(orders_b, rng.gamma(2.0, 60.0, 2000), 0.0)  # AOV 120
    different = bootstrap_ratio_test(np.stack([value_a, orders_a], 1), np.stack([value_b, orders_b], 1))
    assert different.p_value < 0.01 and different.low < 20 < different.high
    assert different.estimate_a == pytest.approx(value_a.sum() / orders_a.sum())
    same = bootstrap_ratio_test(np.stack([value_a, orders_a], 1), np.stack([value_a, orders_a], 1))
    assert same.p_value > 0.5 and same.low < 0 < same.high


def test_bootstrap_ratio_test_needs_a_denominator():
    with pytest.raises(ValueError, match="no denominator"):
        bootstrap_ratio_test(np.zeros((5, 2)), np.ones((5, 2)))
