from __future__ import annotations

import numpy as np

from xsell.simulation import NO_ITEM, AffinityOracle
from xsell.simulation.candidates import rank_scores, top_candidates

from .worlds import camera_sessions, tiny_world


def test_candidates_add_a_show_nothing_action():
    candidates = top_candidates(AffinityOracle(tiny_world()), camera_sessions(1), 2)
    assert candidates.tolist() == [[1, 2, NO_ITEM]]
    scores = rank_scores(candidates, nothing_score=-5.0)
    assert scores.tolist() == [[0.0, -np.log(2.0), -5.0]]
