from __future__ import annotations

import numpy as np

from xsell.bandits import LinearThompson

from .arms import arms


def test_thompson_picks_the_best_learned_arm_among_available_ones():
    agent = LinearThompson(3, scale=0.01, seed=0)
    agent.update(np.eye(3).repeat(50, axis=0), np.repeat([0.1, 0.7, 0.4], 50))
    assert agent.choose(arms(), np.ones((1, 3), dtype=bool)).tolist() == [1]
    assert agent.choose(arms(), np.array([[True, False, True]])).tolist() == [2]


def test_thompson_sampling_is_seeded():
    def draws(seed):
        agent = LinearThompson(3, scale=1.0, seed=seed)
        return agent.choose(np.repeat(arms(), 50, axis=0), np.ones((50, 3), dtype=bool))
    assert np.array_equal(draws(1), draws(1)) and len(set(draws(1).tolist())) > 1
