"""Bandits learn from an impression table: fit on the logged rows, and the replay method."""

from __future__ import annotations

import numpy as np
import pytest

from xsell.bandits import LinearThompson, LinUCB, context_action_features, learn_from_log, replay

from ..offpolicy.impressions import segment_log


def test_context_action_features_put_the_context_in_the_actions_block():
    features = context_action_features(np.array([[2.0, 3.0]]), 3)
    assert features.shape == (1, 3, 9)
    assert features[0, 1].tolist() == [0, 0, 0, 2, 3, 1, 0, 0, 0]


def test_bandits_fitted_on_the_log_choose_each_segments_best_action():
    log = segment_log()
    features = context_action_features(log.context, log.n_actions)  # [n, 3, 9]
    for agent in (LinUCB(9, alpha=0.0), LinearThompson(9, scale=0.01, seed=1)):
        learn_from_log(agent, log, features, rounds=4)
        segments = context_action_features(np.eye(2), 3)  # one row per segment
        assert agent.choose(segments, np.ones((2, 3), dtype=bool)).tolist() == [1, 0]
    ridge = LinUCB(9, alpha=0.0, ridge=1e-6)
    learn_from_log(ridge, log, features)
    # with a vanishing ridge, the disjoint model's estimates are the logged mean rewards per (segment, action)
    segment, action = log.context[:, 1].astype(int), log.action
    means = [log.reward[(segment == 0) & (action == a)].mean() for a in range(3)]
    assert (features[np.flatnonzero(segment == 0)[0]] @ ridge.statistics.mean()).tolist() == pytest.approx(means, abs=1e-4)


def test_replay_matches_a_third_of_a_uniform_log_and_finds_the_better_policy():
    log = segment_log()
    features = context_action_features(log.context, log.n_actions)
    trace = replay(LinUCB(9, alpha=0.5), log, features, rounds=60)
    assert trace["rows"].sum() == len(log)
    assert trace["matched"].sum() == pytest.approx(len(log) / 3, rel=0.1)
    # best per segment: 0.5 and 0.4 (mean 0.45); uniformly random: (0.8 + 0.7) / 6 = 0.25
    assert 0.38 < trace["replay_value"][-1] < 0.47
    with pytest.raises(ValueError, match="rounds"):
        replay(LinUCB(9), log, features, rounds=0)
    with pytest.raises(ValueError, match="features"):
        learn_from_log(LinUCB(9), log, features[:, :2])
