from __future__ import annotations

import warnings

import numpy as np
import pytest

from xsell.abtest import UnderpoweredWarning, run_ab_test
from xsell.simulation import AffinityOracle, NoRecommendation, RandomPolicy, sample_sessions

from ..simulation.worlds import small_shop


def test_oracle_against_random_is_significant_and_well_powered():
    shop, world = small_shop()
    sessions = sample_sessions(shop, world, 6000, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnderpoweredWarning)
        result = run_ab_test(world, sessions, RandomPolicy(world.num_items), AffinityOracle(world), seed=1,
                             minimum_detectable_lift=5.0)
    row = result.tests.filter(kpi="cross_sell_conversion").row(0, named=True)
    assert row["significant"] and row["difference"] > 0 and row["test"] == "two_proportion_z"
    assert result.n_per_arm == (3000, 3000) and result.power > 0.8 and not result.underpowered
    assert set(result.tests["test"]) == {"two_proportion_z", "welch_t", "bootstrap"}


def test_small_experiment_warns_that_it_is_underpowered():
    shop, world = small_shop()
    sessions = sample_sessions(shop, world, 400, seed=0)
    with pytest.warns(UnderpoweredWarning, match="200 units per arm"):
        result = run_ab_test(world, sessions, AffinityOracle(world), AffinityOracle(world), seed=2)
    assert result.underpowered and result.required_per_arm > 200


def test_a_control_without_conversions_cannot_plan_and_warns():
    shop, world = small_shop()
    sessions = sample_sessions(shop, world, 100, seed=0)
    with pytest.warns(UnderpoweredWarning, match="no power calculation"):
        result = run_ab_test(world, sessions, NoRecommendation(), NoRecommendation())
    assert result.power == 0.0 and result.required_per_arm is None and result.underpowered
    assert np.isfinite(result.tests["p_value"].to_numpy()).all()
    with pytest.raises(ValueError):
        run_ab_test(world, sessions.take(slice(0, 3)), NoRecommendation(), NoRecommendation())
