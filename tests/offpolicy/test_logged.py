from __future__ import annotations

import numpy as np
import pytest

from xsell.offpolicy import (
    epsilon_greedy_probabilities,
    expected_rewards,
    log_impressions,
    policy_value,
    sample_actions,
    softmax_probabilities,
)
from xsell.simulation import NO_ITEM, ResponseModel

from ..simulation.worlds import camera_sessions, tiny_world

CANDIDATES = np.array([[1, 2, 3, NO_ITEM]])


def test_softmax_and_epsilon_greedy_probabilities():
    soft = softmax_probabilities(np.array([[0.0, np.log(3.0), -np.inf]]))
    assert soft[0].tolist() == pytest.approx([0.25, 0.75, 0.0])
    assert softmax_probabilities(np.array([[1.0, 0.0]]), temperature=1e-3)[0, 0] == pytest.approx(1.0)
    greedy = epsilon_greedy_probabilities(np.array([[0.1, 0.9, 0.5, 0.2]]), 0.2)
    assert greedy[0].tolist() == pytest.approx([0.05, 0.85, 0.05, 0.05])
    with pytest.raises(ValueError):
        softmax_probabilities(soft, temperature=0.0)


def test_sample_actions_follow_the_probabilities():
    probabilities = np.tile([[0.1, 0.6, 0.0, 0.3]], (20_000, 1))
    counts = np.bincount(sample_actions(probabilities, np.random.default_rng(0)), minlength=4) / 20_000
    assert counts == pytest.approx([0.1, 0.6, 0.0, 0.3], abs=0.015) and counts[2] == 0


def test_expected_rewards_are_the_response_model():
    world, sessions = tiny_world(), camera_sessions(1)
    q = expected_rewards(world, sessions, CANDIDATES, "conversion")
    p = ResponseModel().probabilities(world, sessions, np.array([[1]]))
    assert q[0, 0] == pytest.approx(p.buy[0, 0] * (1 - p.abandon[0]))
    assert q[0, 3] == 0.0 and q[0, 0] > q[0, 1] > q[0, 2] > 0
    revenue = expected_rewards(world, sessions, CANDIDATES, "cross_sell_revenue")
    assert revenue[0, :3] == pytest.approx(q[0, :3] * world.price[[1, 2, 3]])
    order = expected_rewards(world, sessions, CANDIDATES, "order_value")
    assert order[0, 3] == pytest.approx(0.75 * 400)  # nothing shown: the camera at the base keep rate
    assert policy_value(world, sessions, CANDIDATES, np.array([[0.5, 0.5, 0, 0]])) == pytest.approx(q[0, :2].mean())
    with pytest.raises(ValueError, match="unknown reward"):
        expected_rewards(world, sessions, CANDIDATES, "clicks")


def test_log_impressions_records_the_propensity_of_the_shown_offer():
    world, sessions = tiny_world(), camera_sessions(500)
    probabilities = np.tile([[0.4, 0.3, 0.2, 0.1]], (500, 1))
    logged = log_impressions(world, sessions, np.tile(CANDIDATES, (500, 1)), probabilities, seed=0)
    assert np.array_equal(logged.propensity, probabilities[0, logged.action])
    assert set(np.unique(logged.reward)) <= {0.0, 1.0}
    assert logged.reward[logged.action == 3].sum() == 0  # nothing shown, nothing cross-sold
    with pytest.raises(ValueError, match="candidates"):
        log_impressions(world, sessions, CANDIDATES, probabilities)
    with pytest.raises(ValueError, match="sum to 1"):
        log_impressions(world, sessions, np.tile(CANDIDATES, (500, 1)), probabilities * 2)
