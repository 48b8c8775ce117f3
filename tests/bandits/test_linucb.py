from __future__ import annotations

import numpy as np

from xsell.bandits import LinUCB

from .arms import arms


def test_linucb_picks_the_best_learned_arm_among_available_ones():
    agent = LinUCB(3, alpha=0.0)
    agent.update(np.eye(3).repeat(50, axis=0), np.repeat([0.1, 0.7, 0.4], 50))
    assert agent.choose(arms(), np.ones((1, 3), dtype=bool)).tolist() == [1]
    assert agent.choose(arms(), np.array([[True, False, True]])).tolist() == [2]


def test_linucb_explores_the_uncertain_arm():
    agent = LinUCB(3, alpha=2.0)
    agent.update(np.eye(3)[[0, 1]].repeat(100, axis=0), np.repeat([0.5, 0.6], 100))
    assert agent.choose(arms(), np.ones((1, 3), dtype=bool)).tolist() == [2]  # never tried: widest bound
    assert LinUCB(3, alpha=0.0).choose(arms(), np.ones((1, 3), dtype=bool)).tolist() == [0]  # all ties at 0
