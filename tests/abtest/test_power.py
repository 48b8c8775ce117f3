"""Power calculations against textbook values (Fleiss, Levin & Paik, Statistical Methods for Rates and
Proportions: eq. 4.14 / 4.15 and Table A.4; Cohen's d = 0.5 example for means)."""

from __future__ import annotations

import warnings

import pytest

from xsell.abtest import (
    UnderpoweredWarning,
    power_two_means,
    power_two_proportions,
    sample_size_two_means,
    sample_size_two_proportions,
    warn_if_underpowered,
)


@pytest.mark.parametrize(("p_a", "p_b", "plain", "corrected"), [
    (0.5, 0.6, 388, 408),  # Fleiss Table A.4: 408 per group with the continuity correction
    (0.3, 0.5, 93, 103),  # 92.998 before rounding up
])
def test_sample_size_two_proportions_textbook(p_a, p_b, plain, corrected):
    assert sample_size_two_proportions(p_a, p_b) == plain
    assert sample_size_two_proportions(p_b, p_a) == plain  # symmetric
    assert sample_size_two_proportions(p_a, p_b, continuity_correction=True) == corrected


def test_power_is_the_inverse_of_the_sample_size():
    n = sample_size_two_proportions(0.5, 0.6)
    assert power_two_proportions(0.5, 0.6, n) >= 0.8 > power_two_proportions(0.5, 0.6, n - 1)
    assert sample_size_two_proportions(0.5, 0.6, power=0.9) > n
    assert sample_size_two_proportions(0.5, 0.6, two_sided=False) < n
    assert power_two_proportions(0.5, 0.6, 10) < 0.2


def test_sample_size_two_means_textbook():
    assert sample_size_two_means(0.5, 1.0) == 63  # z approximation; t-based tables (Cohen) say 64
    assert sample_size_two_means(5.0, 10.0) == 63  # only delta / sigma matters
    assert power_two_means(0.5, 1.0, 63) == pytest.approx(0.8, abs=0.005)


def test_bad_arguments_raise():
    for call in (lambda: sample_size_two_proportions(0.5, 0.5), lambda: sample_size_two_proportions(0.0, 0.2),
                 lambda: sample_size_two_proportions(0.1, 0.2, alpha=1.5), lambda: sample_size_two_means(0.0, 1.0)):
        with pytest.raises(ValueError):
            call()


def test_underpowered_warning():
    with pytest.warns(UnderpoweredWarning, match="100 units per arm.*388"):
        assert warn_if_underpowered(100, 388, "conversion")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_underpowered(400, 388, "conversion")
