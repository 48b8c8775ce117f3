from __future__ import annotations

import numpy as np
import pytest

from xsell.bandits import GreedyRanking, LinearThompson, LinUCB, offer_features, run_bandit
from xsell.simulation import NO_ITEM

from ..offpolicy.test_estimators import mixed_sessions
from ..simulation.worlds import tiny_world

CANDIDATES = [[3, 2, 1, NO_ITEM]]  # the "model" ranks the tent first: greedy ranking is poor here


def play(agent, offer_cost=0.0, rounds=30):
    world, sessions = tiny_world(), mixed_sessions()
    candidates = np.tile(CANDIDATES, (len(sessions), 1))
    features = offer_features(np.ones((len(sessions), 4)), np.eye(4), candidates)  # one-hot items
    return run_bandit(agent, world, sessions, candidates, features, rounds=rounds, offer_cost=offer_cost, seed=3)


def test_bandits_beat_the_greedy_ranking_and_approach_the_best_offer():
    greedy, linucb, thompson = play(GreedyRanking()), play(LinUCB(10, alpha=0.5)), play(LinearThompson(10, 0.1))
    regret = {name: trace["cumulative_regret"][-1] for name, trace in
              (("greedy", greedy), ("linucb", linucb), ("thompson", thompson))}
    assert regret["linucb"] < 0.3 * regret["greedy"] and regret["thompson"] < 0.3 * regret["greedy"]
    assert (np.diff(linucb["cumulative_regret"].to_numpy()) >= -1e-12).all()
    late = linucb.tail(10)
    assert (late["expected_reward"] / late["best_reward"]).mean() > 0.9


def test_bandit_learns_to_show_nothing_when_offers_cost_more_than_they_earn():
    trace = play(LinUCB(10, alpha=0.5), offer_cost=0.5)  # conversion probabilities are below 0.2
    assert trace.tail(10)["shown"].mean() < 0.1 and play(GreedyRanking(), 0.5)["shown"].min() == 1.0


def test_run_bandit_checks_its_inputs():
    world, sessions = tiny_world(), mixed_sessions()
    candidates = np.tile(CANDIDATES, (len(sessions), 1))
    features = offer_features(np.ones((len(sessions), 4)), np.eye(4), candidates)
    with pytest.raises(ValueError, match="rounds"):
        run_bandit(GreedyRanking(), world, sessions, candidates, features, rounds=0)
    with pytest.raises(ValueError, match="features"):
        run_bandit(GreedyRanking(), world, sessions, candidates[:, :2], features, rounds=2)
    with pytest.raises(ValueError, match="reward"):
        run_bandit(GreedyRanking(), world, sessions, candidates, features, rounds=2, reward="clicks")
