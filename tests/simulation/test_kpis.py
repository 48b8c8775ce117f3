from __future__ import annotations

import numpy as np
import pytest

from xsell.simulation import NO_ITEM, NoRecommendation, Outcomes, session_kpis, simulate
from xsell.simulation.policies import AffinityOracle, RandomPolicy

from .worlds import small_shop


def outcomes(offers, clicked, bought, abandoned, order_value, surveyed, helpful) -> Outcomes:
    bought = np.array(bought, dtype=bool)
    return Outcomes(np.array(offers), np.array(clicked, dtype=bool), bought, np.array(abandoned, dtype=bool),
                    np.array(order_value, dtype=float), np.zeros(len(abandoned)), np.array(surveyed, dtype=bool),
                    np.array(helpful, dtype=bool))


def test_kpis_by_hand():
    policy = outcomes(
        offers=[[1, 2], [1, NO_ITEM], [NO_ITEM, NO_ITEM], [3, 4]],
        clicked=[[1, 0], [1, 0], [0, 0], [0, 1]],
        bought=[[1, 0], [0, 0], [0, 0], [0, 0]],
        abandoned=[0, 0, 1, 0], order_value=[120.0, 100.0, 0.0, 80.0],
        surveyed=[1, 1, 0, 0], helpful=[1, 0, 0, 0],
    )
    control = outcomes([[NO_ITEM]] * 4, [[0]] * 4, [[0]] * 4, [0, 1, 1, 0], [100.0, 0.0, 0.0, 80.0],
                       [0] * 4, [0] * 4)
    table = session_kpis(policy, control=control, n_resamples=200)
    kpi = dict(zip(table["kpi"], table["estimate"], strict=True))
    assert kpi["cross_sell_conversion"] == pytest.approx(1 / 4)
    assert kpi["click_through"] == pytest.approx(3 / 5)
    assert kpi["average_order_value"] == pytest.approx(300 / 3)
    assert kpi["revenue_per_session"] == pytest.approx(75.0)
    assert kpi["cart_abandonment"] == pytest.approx(1 / 4)
    assert kpi["survey_satisfaction"] == pytest.approx(1 / 2)
    assert kpi["incremental_revenue"] == pytest.approx((20 + 100) / 4)
    assert (table["low"] <= table["estimate"]).all() and (table["estimate"] <= table["high"]).all()
    with pytest.raises(ValueError, match="same sessions"):
        session_kpis(policy, control=outcomes([[NO_ITEM]], [[0]], [[0]], [0], [1.0], [0], [0]))


def test_oracle_beats_random_beats_nothing_on_conversion():
    from xsell.simulation import sample_sessions

    shop, world = small_shop()
    sessions = sample_sessions(shop, world, 3000, seed=0)
    control = simulate(world, sessions, NoRecommendation(), seed=1)
    oracle = session_kpis(simulate(world, sessions, AffinityOracle(world), seed=1), control=control, n_resamples=200)
    random = session_kpis(simulate(world, sessions, RandomPolicy(world.num_items), seed=1), control=control,
                          n_resamples=200)
    nothing = session_kpis(control, n_resamples=200)

    def row(table, name):
        return table.filter(kpi=name).row(0, named=True)

    assert row(nothing, "cross_sell_conversion")["estimate"] == 0.0
    assert row(oracle, "cross_sell_conversion")["low"] > row(random, "cross_sell_conversion")["high"]
    assert row(oracle, "survey_satisfaction")["low"] > row(random, "survey_satisfaction")["high"]
    assert row(random, "incremental_revenue")["high"] < 0  # irrelevant offers only annoy
