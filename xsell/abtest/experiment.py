"""Simulated A/B experiments: sessions are randomised into two arms, each arm sees its own policy, and every KPI
gets the test that fits it, next to a power check on the primary metric (cross-sell conversion)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from xsell.abtest.power import (
    UnderpoweredWarning,
    power_two_proportions,
    sample_size_two_proportions,
    warn_if_underpowered,
)
from xsell.abtest.significance import TestResult, bootstrap_ratio_test, two_proportion_ztest, welch_ttest
from xsell.simulation.policies import Policy
from xsell.simulation.response import Outcomes, ResponseModel
from xsell.simulation.sessions import Sessions
from xsell.simulation.simulator import simulate
from xsell.simulation.world import ShopWorld


@dataclass(frozen=True)
class ABTestResult:
    """One experiment.

    Attributes:
        tests: one row per KPI: ``kpi``, ``test``, arm estimates, ``difference`` (B - A), CI, ``p_value``,
            ``significant`` (at ``alpha``).
        n_per_arm: sessions in each arm (A, B).
        required_per_arm: sessions per arm the power calculation asks for to detect the planned lift of
            the conversion rate (``minimum_detectable_lift`` relative to arm A's observed rate); None when arm
            A's rate is 0 or 1 (nothing to plan from: the experiment counts as under-powered).
        power: power of the conversion test at the sizes run.
        underpowered: whether ``n_per_arm`` fell short (an ``UnderpoweredWarning`` was emitted).
    """

    tests: pl.DataFrame
    n_per_arm: tuple[int, int]
    required_per_arm: int | None
    power: float
    underpowered: bool


def compare_arms(a: Outcomes, b: Outcomes, *, alpha: float = 0.05, minimum_detectable_lift: float = 0.1,
                 power: float = 0.8, seed: int = 0) -> ABTestResult:
    """Test arm ``b`` against arm ``a`` on independent sessions.

    Rates (cross-sell conversion, cart abandonment) get the two-proportion z-test; revenue per session gets
    Welch's t-test; average order value (a ratio: order value over completed orders) gets a bootstrap test.
    The power check plans for a relative lift ``minimum_detectable_lift`` of arm A's conversion rate and
    warns (:class:`~xsell.abtest.power.UnderpoweredWarning`) when the arms are smaller than it needs.
    """
    converted_a, converted_b = a.bought.any(axis=1), b.bought.any(axis=1)
    tested: list[tuple[str, TestResult]] = [
        ("cross_sell_conversion", two_proportion_ztest(int(converted_a.sum()), len(a),
                                                       int(converted_b.sum()), len(b), confidence=1 - alpha)),
        ("cart_abandonment", two_proportion_ztest(int(a.abandoned.sum()), len(a), int(b.abandoned.sum()), len(b),
                                                  confidence=1 - alpha)),
        ("revenue_per_session", welch_ttest(a.order_value, b.order_value, confidence=1 - alpha)),
    ]
    if (~a.abandoned).any() and (~b.abandoned).any():  # an average order value needs orders in both arms
        tested.append(("average_order_value", bootstrap_ratio_test(
            np.stack([a.order_value, ~a.abandoned], axis=1), np.stack([b.order_value, ~b.abandoned], axis=1),
            confidence=1 - alpha, seed=seed)))
    tests = pl.DataFrame([{"kpi": kpi, **result.to_dict(), "significant": result.p_value < alpha}
                          for kpi, result in tested])
    base = float(converted_a.mean())
    target = base * (1 + minimum_detectable_lift)
    n = min(len(a), len(b))
    if 0 < base < 1 and 0 < target < 1:
        required = sample_size_two_proportions(base, target, alpha=alpha, power=power)
        achieved = power_two_proportions(base, target, n, alpha=alpha)
        underpowered = warn_if_underpowered(n, required, f"cross-sell conversion {base:.4f} -> {target:.4f}")
    else:  # no conversion (or only conversions) in arm A: there is no rate to plan a lift from
        required, achieved, underpowered = None, 0.0, True
        warnings.warn(f"cross-sell conversion of arm A is {base:.4f}: no power calculation is possible, so the "
                      f"experiment counts as under-powered", UnderpoweredWarning, stacklevel=2)
    return ABTestResult(tests, (len(a), len(b)), required, float(achieved), underpowered)


def run_ab_test(world: ShopWorld, sessions: Sessions, policy_a: Policy, policy_b: Policy, *, k: int = 3,
                response: ResponseModel | None = None, seed: int = 0, **options: float) -> ABTestResult:
    """Randomise ``sessions`` into two equal arms (seeded), simulate each arm under its policy and compare them
    with :func:`compare_arms` (``options``: ``alpha``, ``minimum_detectable_lift``, ``power``)."""
    if len(sessions) < 4:
        raise ValueError(f"an A/B test needs at least 4 sessions, got {len(sessions)}")
    order = np.random.default_rng(seed).permutation(len(sessions))
    half = len(sessions) // 2
    arm_a, arm_b = sessions.take(order[:half]), sessions.take(order[half: 2 * half])
    a = simulate(world, arm_a, policy_a, k=k, response=response, seed=seed + 1)
    b = simulate(world, arm_b, policy_b, k=k, response=response, seed=seed + 2)
    return compare_arms(a, b, seed=seed, **options)
