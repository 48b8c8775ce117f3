"""Sample size and power of two-arm experiments (normal approximations, two-sided by default).

Two proportions ``p_a``, ``p_b`` with ``n`` customers per arm (Fleiss, Levin & Paik, *Statistical Methods for
Rates and Proportions*, 3rd ed., eq. 4.14 and the continuity correction 4.15)::

    n = (z_{1-alpha/2} sqrt(2 p q) + z_{1-beta} sqrt(p_a q_a + p_b q_b))^2 / (p_a - p_b)^2,  p = (p_a + p_b) / 2
    n_cc = n / 4 * (1 + sqrt(1 + 4 / (n |p_a - p_b|)))^2

Two means with a common standard deviation ``sigma`` and difference ``delta``::

    n = 2 (z_{1-alpha/2} + z_{1-beta})^2 sigma^2 / delta^2
"""

from __future__ import annotations

import math
import warnings
from statistics import NormalDist

_NORMAL = NormalDist()


class UnderpoweredWarning(UserWarning):
    """An experiment has fewer units per arm than its power calculation asks for: a non-significant result
    says little, and a significant one likely overstates the effect."""


def _z(alpha: float, two_sided: bool) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return _NORMAL.inv_cdf(1.0 - alpha / 2 if two_sided else 1.0 - alpha)


def _check_rates(p_a: float, p_b: float) -> None:
    if not (0.0 < p_a < 1.0 and 0.0 < p_b < 1.0):
        raise ValueError(f"proportions must lie in (0, 1), got {p_a} and {p_b}")
    if p_a == p_b:
        raise ValueError("the two proportions are equal: no sample size detects a zero difference")


def sample_size_two_proportions(p_a: float, p_b: float, *, alpha: float = 0.05, power: float = 0.8,
                                two_sided: bool = True, continuity_correction: bool = False) -> int:
    """Customers per arm to detect ``p_a`` vs ``p_b`` with a two-proportion z-test (Fleiss 4.14 / 4.15).

    Example::

        sample_size_two_proportions(0.5, 0.6)                              # 388
        sample_size_two_proportions(0.5, 0.6, continuity_correction=True)  # 408 (Fleiss, Table A.4)
    """
    _check_rates(p_a, p_b)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must lie in (0, 1), got {power}")
    z_alpha, z_beta = _z(alpha, two_sided), _NORMAL.inv_cdf(power)
    mean = (p_a + p_b) / 2
    delta = abs(p_a - p_b)
    n = (z_alpha * math.sqrt(2 * mean * (1 - mean))
         + z_beta * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))) ** 2 / delta**2
    if continuity_correction:
        n = n / 4 * (1 + math.sqrt(1 + 4 / (n * delta))) ** 2
    return math.ceil(n - 1e-9)  # the tolerance keeps an exact integer from rounding up by float noise


def power_two_proportions(p_a: float, p_b: float, n_per_arm: int, *, alpha: float = 0.05,
                          two_sided: bool = True) -> float:
    """Power of a two-proportion z-test with ``n_per_arm`` customers per arm (the inverse of
    :func:`sample_size_two_proportions` without continuity correction; the far tail is ignored)."""
    _check_rates(p_a, p_b)
    mean = (p_a + p_b) / 2
    spread = math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))
    z = (abs(p_a - p_b) * math.sqrt(n_per_arm) - _z(alpha, two_sided) * math.sqrt(2 * mean * (1 - mean))) / spread
    return _NORMAL.cdf(z)


def sample_size_two_means(delta: float, sigma: float, *, alpha: float = 0.05, power: float = 0.8,
                          two_sided: bool = True) -> int:
    """Units per arm to detect a difference ``delta`` of means with standard deviation ``sigma`` (z approximation;
    e.g. ``delta / sigma = 0.5`` needs 63, one fewer than t-based tables' 64)."""
    if delta == 0 or sigma <= 0:
        raise ValueError(f"need delta != 0 and sigma > 0, got delta={delta}, sigma={sigma}")
    n = 2 * (_z(alpha, two_sided) + _NORMAL.inv_cdf(power)) ** 2 * sigma**2 / delta**2
    return math.ceil(n - 1e-9)


def power_two_means(delta: float, sigma: float, n_per_arm: int, *, alpha: float = 0.05,
                    two_sided: bool = True) -> float:
    """Power of a two-sample z-test of means with ``n_per_arm`` units per arm."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return _NORMAL.cdf(abs(delta) / sigma * math.sqrt(n_per_arm / 2) - _z(alpha, two_sided))


def warn_if_underpowered(n_per_arm: int, required_per_arm: int, what: str) -> bool:
    """Emit :class:`UnderpoweredWarning` when ``n_per_arm < required_per_arm``; returns whether it did."""
    if n_per_arm < required_per_arm:
        warnings.warn(f"{what}: {n_per_arm} units per arm, the power calculation asks for {required_per_arm}",
                      UnderpoweredWarning, stacklevel=3)
        return True
    return False
