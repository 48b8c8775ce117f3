from __future__ import annotations

import numpy as np
import torch

from xsell.data.batch import SequenceBatch
from xsell.data.vocabulary import Vocabulary
from xsell.export.scorer import TopKScorer
from xsell.simulation import (
    NO_ITEM,
    AffinityOracle,
    NoRecommendation,
    RandomPolicy,
    ScoreFunctionPolicy,
    StaticScorePolicy,
    TopKScorerPolicy,
)

from .worlds import camera_sessions, tiny_model, tiny_world


def test_no_recommendation_shows_nothing():
    assert (NoRecommendation().recommend(camera_sessions(3), 2) == NO_ITEM).all()


def test_scoring_policies_never_show_the_history_or_the_anchor():
    sessions = camera_sessions(2)  # history: tent (3), camera (0)
    offers = StaticScorePolicy(np.array([9.0, 1.0, 2.0, 8.0])).recommend(sessions, 3)
    assert offers.tolist() == [[2, 1, NO_ITEM]] * 2  # camera and tent excluded, so only two offers
    random = RandomPolicy(4, seed=0).recommend(sessions, 2)
    assert set(random.ravel().tolist()) == {1, 2}


def test_policies_work_in_chunks_of_sessions():
    sessions = camera_sessions(4096 + 5)  # two chunks
    offers = StaticScorePolicy(np.array([9.0, 1.0, 2.0, 8.0])).recommend(sessions, 1)
    assert offers.shape == (4101, 1) and (offers == 2).all()
    assert StaticScorePolicy(np.ones(4)).recommend(sessions.take(slice(0, 0)), 2).shape == (0, 2)


def test_oracle_ranks_by_affinity_and_skips_unrelated_items():
    offers = AffinityOracle(tiny_world()).recommend(camera_sessions(1), 3)
    assert offers.tolist() == [[1, 2, NO_ITEM]]


def test_score_function_policy_maps_vocabulary_indices():
    world = tiny_world()
    vocabulary = Vocabulary(["i2", "i1", "i3"])  # i0 (the camera) is unknown to this model
    seen: list[SequenceBatch] = []

    def score(batch: SequenceBatch) -> torch.Tensor:
        seen.append(batch)
        return torch.tensor([[0.0, 0.0, 5.0, 7.0, 9.0]]).expand(len(batch), -1)  # pad, unk, i2, i1, i3

    offers = ScoreFunctionPolicy(score, vocabulary, world).recommend(camera_sessions(2), 3)
    assert offers.tolist() == [[1, 2, NO_ITEM]] * 2  # i3 is in the history, i0 unknown
    assert seen[0].items.tolist() == [[0, 4, 1]] * 2  # padding, i3 -> 4, the camera -> unknown


def test_top_k_scorer_policy_uses_the_exported_signature():
    world = tiny_world()
    vocabulary = Vocabulary(["i0", "i1", "i2", "i3"])

    def scorer(items: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        indices = torch.tensor([[4, 3, 2]])[:, :k].expand(items.shape[0], -1)  # i2, i1, then the camera
        return indices, torch.tensor([[3.0, 2.0, float("-inf")]])[:, :k].expand(items.shape[0], -1)

    offers = TopKScorerPolicy(scorer, vocabulary, world).recommend(camera_sessions(2), 3)
    assert offers.tolist() == [[2, 1, NO_ITEM]] * 2


def test_the_exported_scorer_and_the_model_recommend_the_same_offers():
    model, vocabulary = tiny_model()
    world, sessions = tiny_world(), camera_sessions(2)
    counts = torch.ones(len(vocabulary))
    exported = TopKScorerPolicy(TopKScorer(model, counts), vocabulary, world).recommend(sessions, 2)
    eager = ScoreFunctionPolicy(model.score, vocabulary, world).recommend(sessions, 2)
    assert np.array_equal(exported, eager) and set(eager.ravel().tolist()) == {1, 2}
