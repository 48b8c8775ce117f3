"""``xsell.training.builders``: baselines built from their config files, with the run's protocol."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from xsell.baselines import ItemKNN
from xsell.ranking import HybridRanker
from xsell.training.builders import CONFIG_DIR, instantiate_baseline


def baseline_node(name: str):
    return OmegaConf.load(f"{CONFIG_DIR}/baselines/{name}.yaml")


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_the_hybrid_learns_under_the_runs_protocol(exclude_seen):
    hybrid = instantiate_baseline(baseline_node("hybrid"), exclude_seen)
    assert isinstance(hybrid, HybridRanker) and hybrid.exclude_seen is exclude_seen


def test_a_baseline_that_does_not_learn_the_protocol_is_built_as_configured():
    knn = instantiate_baseline(baseline_node("itemknn"), exclude_seen=False)
    assert isinstance(knn, ItemKNN) and knn.k == baseline_node("itemknn").k
