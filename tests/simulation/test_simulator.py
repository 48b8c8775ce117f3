from __future__ import annotations

import numpy as np

from xsell.simulation import NO_ITEM, AffinityOracle, NoRecommendation, ResponseModel, simulate

from .worlds import camera_sessions, tiny_world


def test_simulate_shows_the_policy_offers_and_shares_random_numbers():
    world, sessions = tiny_world(), camera_sessions(2000)
    oracle = simulate(world, sessions, AffinityOracle(world), k=2, seed=7)
    assert (oracle.offers == [1, 2]).all()
    control = simulate(world, sessions, NoRecommendation(), k=2, seed=7)
    assert (control.offers == NO_ITEM).all() and not control.bought.any()
    # Common random numbers: the relevant offers change few abandonment draws, so sessions mostly agree.
    assert (oracle.abandoned == control.abandoned).mean() > 0.98
    gentle = simulate(world, sessions, AffinityOracle(world), k=2, seed=7, response=ResponseModel(click_weight=0.0))
    assert gentle.clicked.sum() < oracle.clicked.sum()
    assert np.array_equal(oracle.bought, simulate(world, sessions, AffinityOracle(world), k=2, seed=7).bought)
