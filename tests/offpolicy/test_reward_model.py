from __future__ import annotations

import numpy as np
import pytest

from xsell.offpolicy import CategoryPairRewardModel, LoggedImpressions
from xsell.simulation import NO_ITEM

from ..simulation.worlds import camera_sessions, tiny_world


def test_cell_means_shrink_towards_the_offer_category():
    world, sessions = tiny_world(), camera_sessions(4)
    candidates = np.tile([[1, NO_ITEM]], (4, 1))
    logged = LoggedImpressions(sessions, candidates, action=np.array([0, 0, 0, 1]), propensity=np.full(4, 0.5),
                               reward=np.array([1.0, 1.0, 0.0, 0.0]), reward_name="conversion")
    model = CategoryPairRewardModel(world, prior_strength=1.0).fit(logged)
    predicted = model.predict(sessions.take(slice(0, 1)), np.array([[1, NO_ITEM, 2]]))
    card_mean = (2.0 + 1.0 * 0.5) / (3 + 1)  # offer category mean: 2 of 3 plus one pseudo-count at 0.5
    assert predicted[0, 0] == pytest.approx((2.0 + card_mean) / (3 + 1))
    nothing_mean = (0.0 + 0.5) / 2
    assert predicted[0, 1] == pytest.approx(nothing_mean / 2)
    assert predicted[0, 2] == pytest.approx(0.5)  # never logged: the global mean
    with pytest.raises(RuntimeError):
        CategoryPairRewardModel(world).predict(sessions, candidates)
