from __future__ import annotations

import math

import numpy as np
import pytest

from xsell.simulation import NO_ITEM, ResponseModel

from .worlds import camera_sessions, tiny_world


def test_probabilities_match_the_formulas_by_hand():
    world, sessions = tiny_world(), camera_sessions(1)
    p = ResponseModel().probabilities(world, sessions, np.array([[1, 3]]))  # memory card, then tent
    fatigue = 0.85  # two offers shown
    assert p.click[0, 0] == pytest.approx(fatigue * (0.02 + 0.6 * 0.5))
    assert p.click[0, 1] == pytest.approx(fatigue / math.log2(3) * 0.02)
    assert p.buy[0, 0] == pytest.approx(p.click[0, 0] * math.exp(-0.5 * 20 / 400) * (0.05 + 0.5))
    assert p.abandon[0] == pytest.approx(1 - 0.75 * (1 - 0.01 * 0.5) * (1 - 0.01))
    assert p.helpful[0] == pytest.approx(0.9)  # the best pair of the world: 1 - survey noise
    bag = ResponseModel().probabilities(world, sessions, np.array([[2]]))
    assert bag.helpful[0] == pytest.approx(0.1 + 0.8 * 0.2 / 0.5)
    assert ResponseModel().probabilities(world, sessions, np.array([[3]])).helpful[0] == pytest.approx(0.1)


def test_nothing_shown_is_the_base_behaviour():
    world = tiny_world()
    for segment, purchase_prob in enumerate([0.75, 0.55, 0.30]):
        p = ResponseModel().probabilities(world, camera_sessions(1, segment), np.array([[NO_ITEM, NO_ITEM]]))
        assert p.click.sum() == 0 and p.buy.sum() == 0 and p.helpful[0] == 0
        assert p.abandon[0] == pytest.approx(1 - purchase_prob)


def test_price_sensitive_segments_buy_less_of_dear_add_ons():
    world = tiny_world()
    buy = [ResponseModel().probabilities(world, camera_sessions(1, g), np.array([[2]])).buy[0, 0] for g in range(3)]
    assert buy[1] < buy[0] < buy[2]  # bargain hunter < frequent buyer < browser (negative sensitivity)


def test_position_bias_and_fatigue_lower_clicks():
    world, sessions = tiny_world(), camera_sessions(1)
    model = ResponseModel()
    first, second = model.probabilities(world, sessions, np.array([[1, 2]])).click[0]
    swapped = model.probabilities(world, sessions, np.array([[2, 1]])).click[0]
    assert swapped[1] < first  # the same item lower down gets fewer clicks
    alone = model.probabilities(world, sessions, np.array([[1]])).click[0, 0]
    assert alone == pytest.approx(first / 0.85)


def test_simulated_answers_average_to_the_probabilities():
    world, sessions = tiny_world(), camera_sessions(40_000)
    offers = np.tile([[1, 2, 3]], (len(sessions), 1))
    model = ResponseModel(survey_rate=0.5)
    p = model.probabilities(world, sessions, offers)
    outcomes = model.simulate(world, sessions, offers, seed=0)
    n = len(sessions)

    def close(observed: float, expected: float) -> None:
        assert abs(observed - expected) < 4 * math.sqrt(expected * (1 - expected) / n) + 1e-12

    for k in range(3):
        close(outcomes.clicked[:, k].mean(), p.click[0, k])
        close(outcomes.bought[:, k].mean(), p.buy[0, k] * (1 - p.abandon[0]))
    close(outcomes.abandoned.mean(), p.abandon[0])
    close(outcomes.surveyed.mean(), 0.5)
    assert (outcomes.order_value[outcomes.abandoned] == 0).all() and not outcomes.bought[outcomes.abandoned].any()
    expected_value = model.expected_order_value(world, sessions, offers)[0]
    spread = outcomes.order_value.std() / math.sqrt(n)
    assert abs(outcomes.order_value.mean() - expected_value) < 4 * spread


def test_same_seed_same_answers():
    world, sessions = tiny_world(), camera_sessions(50)
    offers = np.tile([[1, 2]], (50, 1))
    a = ResponseModel().simulate(world, sessions, offers, seed=4)
    b = ResponseModel().simulate(world, sessions, offers, seed=4)
    none = ResponseModel().simulate(world, sessions, np.full((50, 2), NO_ITEM), seed=4)
    assert np.array_equal(a.clicked, b.clicked) and np.array_equal(a.order_value, b.order_value)
    assert (none.abandoned <= a.abandoned).all()  # common random numbers: offers only add abandonment risk


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="fatigue"):
        ResponseModel(fatigue=1.5)
    with pytest.raises(ValueError, match="position_decay"):
        ResponseModel(position_decay=-1.0)
