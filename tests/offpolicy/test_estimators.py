"""Off-policy estimators on a case whose true value is known exactly (the response model's expectation)."""

from __future__ import annotations

import numpy as np
import pytest

from xsell.offpolicy import (
    doubly_robust,
    epsilon_greedy_probabilities,
    expected_rewards,
    ips,
    log_impressions,
    policy_value,
    snips,
    softmax_probabilities,
)
from xsell.simulation import NO_ITEM, Sessions

from ..simulation.worlds import tiny_world

N = 2000


def mixed_sessions() -> Sessions:
    """``N`` camera sessions spread over the three segments (different answers per segment)."""
    segment = np.arange(N) % 3
    return Sessions(user=segment, segment=segment, anchor=np.zeros(N, dtype=np.int64),
                    history=np.zeros((N, 1), dtype=np.int64), events=np.full((N, 1), 3))


def setting():
    world, sessions = tiny_world(), mixed_sessions()
    candidates = np.tile([[3, 2, 1, NO_ITEM]], (N, 1))  # the logging policy prefers the tent: a poor one
    logging = softmax_probabilities(np.tile([[1.0, 0.5, 0.0, 0.0]], (N, 1)))
    target = epsilon_greedy_probabilities(np.tile([[0.0, 0.5, 1.0, 0.0]], (N, 1)), 0.1)  # mostly the card
    return world, sessions, candidates, logging, target


def test_ips_is_unbiased_over_seeds_and_its_interval_covers():
    world, sessions, candidates, logging, target = setting()
    truth = policy_value(world, sessions, candidates, target)
    assert truth > 1.5 * policy_value(world, sessions, candidates, logging)  # a case worth estimating
    estimates, covered = [], 0
    for seed in range(40):
        logged = log_impressions(world, sessions, candidates, logging, seed=seed)
        interval = ips(logged, target, n_resamples=200, seed=seed)
        estimates.append(interval.estimate)
        covered += interval.low <= truth <= interval.high
    estimates = np.array(estimates)
    assert abs(estimates.mean() - truth) < 3 * estimates.std(ddof=1) / np.sqrt(estimates.size)
    assert covered >= 34  # 95% intervals: ~38 of 40 expected


def test_on_policy_estimates_are_the_mean_reward():
    world, sessions, candidates, logging, _ = setting()
    logged = log_impressions(world, sessions, candidates, logging, seed=0)
    assert ips(logged, logging).estimate == pytest.approx(logged.reward.mean())
    assert snips(logged, logging).estimate == pytest.approx(logged.reward.mean())


def test_doubly_robust_with_a_perfect_reward_model_has_less_variance():
    """Order value is mostly the anchor's price whatever is shown: IPS multiplies it by noisy weights, DR's
    reward model takes it out."""
    world, sessions, candidates, logging, target = setting()
    truth = policy_value(world, sessions, candidates, target, "order_value")
    perfect = expected_rewards(world, sessions, candidates, "order_value")
    wrong = np.zeros_like(perfect)  # DR with a useless model is IPS
    dr, plain = [], []
    for seed in range(20):
        logged = log_impressions(world, sessions, candidates, logging, reward="order_value", seed=seed)
        dr.append(doubly_robust(logged, target, perfect, n_resamples=50).estimate)
        plain.append(ips(logged, target, n_resamples=50).estimate)
        assert doubly_robust(logged, target, wrong, n_resamples=50).estimate == pytest.approx(plain[-1])
    dr = np.array(dr)
    assert abs(dr.mean() - truth) < 3 * dr.std(ddof=1) / np.sqrt(dr.size)
    assert dr.std() < 0.9 * np.std(plain)  # 12.5 vs 15.6: the abandonment noise stays in both


def test_snips_is_close_to_the_truth():
    world, sessions, candidates, logging, target = setting()
    truth = policy_value(world, sessions, candidates, target)
    interval = snips(log_impressions(world, sessions, candidates, logging, seed=7), target, n_resamples=300)
    assert interval.low <= truth <= interval.high


def test_estimators_reject_bad_inputs():
    world, sessions, candidates, logging, target = setting()
    logged = log_impressions(world, sessions, candidates, logging, seed=0)
    with pytest.raises(ValueError, match="match the candidates"):
        ips(logged, target[:, :2])
    with pytest.raises(ValueError, match="predicted"):
        doubly_robust(logged, target, np.zeros((N, 2)))
    zero = logged.__class__(logged.sessions, logged.candidates, logged.action, np.zeros(N), logged.reward,
                            logged.reward_name)
    with pytest.raises(ValueError, match="propensity"):
        ips(zero, target)
