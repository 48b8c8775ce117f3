"""Target policies from scores (top-k, softmax), from an xsell scorer over the log's histories and from a
bundle-style ``recommend``; the simulator's table gives the estimates of its own log."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xsell.data.batch import SequenceBatch
from xsell.data.vocabulary import Vocabulary
from xsell.errors import SchemaError
from xsell.models import SASRec
from xsell.offpolicy import (
    ImpressionLog,
    doubly_robust,
    ips,
    log_impressions,
    read_impressions,
    recommendation_action_scores,
    scorer_action_scores,
    snips,
    softmax_policy,
    top_k_policy,
)

from .impressions import tiny_frame
from .test_estimators import setting

VOCABULARY = Vocabulary(["a", "b", "x", "y", "z"], name="item_id")  # indices 2..6


class NextOfLastItem:
    """A scorer: score 1 for the vocabulary index after the newest history item, 0 elsewhere."""

    def score(self, batch: SequenceBatch) -> torch.Tensor:
        scores = torch.zeros(len(batch), len(VOCABULARY))  # [B, V]
        scores[torch.arange(len(batch)), (batch.items[:, -1] + 1) % len(VOCABULARY)] = 1.0
        return scores


def test_top_k_and_softmax_policies():
    scores = np.array([[0.0, 2.0, 1.0, -np.inf], [5.0, 5.0, -np.inf, -np.inf]])
    top = top_k_policy(scores, k=3)
    assert top.shape == (2, 4, 3)
    assert top[0].argmax(axis=0).tolist() == [1, 2, 0] and top[0].sum() == 3
    assert top[1, :, 0].tolist() == [1, 0, 0, 0] and top[1, :, 1].tolist() == [0, 1, 0, 0]  # ties: lower index
    assert top[1, :, 2].sum() == 0  # nothing left to show in slot 3
    soft = softmax_policy(np.array([[0.0, np.log(3.0)]]), temperature=1.0, positions=2)
    assert soft[0, :, 0].tolist() == pytest.approx([0.25, 0.75]) and np.array_equal(soft[..., 0], soft[..., 1])
    with pytest.raises(ValueError, match="k must lie in"):
        top_k_policy(scores, k=5)


def test_an_xsell_scorer_is_the_target_policy():
    log = ImpressionLog(tiny_frame())  # newest history items y, y, (none), y
    scores = scorer_action_scores(log, NextOfLastItem().score, VOCABULARY, ["a", "z"])
    # "z" (index 6) follows "y" (5); an empty history's last column is padding (0), whose successor is unknown
    assert scores.tolist() == [[0.0, 1.0], [0.0, 1.0], [0.0, 0.0], [0.0, 1.0]]
    target = top_k_policy(scores, k=1)  # rows 0, 1, 3 show z (action 1); row 2 a tie: action 0
    # pi(a_i) = 0, 1, 1, 1 -> w = 0, 2, 1.25, 5; rewards 1, 0, 0, 1
    assert ips(log, target).estimate == pytest.approx(5 / 4)
    assert snips(log, target).estimate == pytest.approx(5 / (2 + 1.25 + 5))
    nothing = scorer_action_scores(log, NextOfLastItem().score, VOCABULARY, ["a", None, "unseen"], nothing_score=0.5)
    assert nothing[:, 1].tolist() == [0.5] * 4 and np.isneginf(nothing[:, 2]).all()
    with pytest.raises(SchemaError, match="no history column"):
        scorer_action_scores(ImpressionLog(tiny_frame().drop("history")), NextOfLastItem().score, VOCABULARY, ["a"])


def test_a_model_scores_the_log_in_batches_like_at_once():
    torch.manual_seed(0)
    model = SASRec(len(VOCABULARY), dim=8, layers=1, heads=1, max_len=4).eval()
    log = ImpressionLog(tiny_frame())
    at_once = scorer_action_scores(log, model.score, VOCABULARY, ["a", "b"])
    in_batches = scorer_action_scores(log, model.score, VOCABULARY, ["a", "b"], batch_rows=3)
    assert np.allclose(in_batches, at_once, atol=1e-5)  # another padding width: float noise only
    with torch.no_grad():  # row 3: history x, z, y in vocabulary indices
        direct = model.score(SequenceBatch(items=torch.tensor([[4, 6, 5]]), events=torch.tensor([[1, 1, 1]]),
                                           time_gaps=torch.tensor([[1, 1, 1]])))
    assert at_once[3].tolist() == pytest.approx(direct[0, [2, 3]].tolist(), abs=1e-6)


def test_a_recommend_service_is_the_target_policy():
    log = ImpressionLog(tiny_frame())
    seen = []

    def recommend(histories, k):
        seen.append((list(histories), k))
        return [[("b", 2.0), ("zz", 1.0)] if h else [] for h in histories]

    scores = recommendation_action_scores(log, recommend, ["a", "b", None], k=2, nothing_score=0.0)
    assert seen == [([["x", "y"], ["y"], [], ["x", "z", "y"]], 2)]
    assert scores[:, 1].tolist() == [2.0, 2.0, -np.inf, 2.0] and np.isneginf(scores[:, 0]).all()
    assert scores[:, 2].tolist() == [0.0] * 4


def test_the_simulators_table_gives_the_same_estimates(tmp_path):
    world, sessions, candidates, logging, target = setting()
    logged = log_impressions(world, sessions, candidates, logging, seed=3)
    table = read_impressions(logged.to_impressions(world).write(tmp_path / "log.parquet"), n_actions=4)
    assert len(table) == len(logged) and table.n_actions == 4
    assert table.frame.get_column("item_id").to_list()[:3] == [
        None if c == -1 else str(world.item_ids[c]) for c in candidates[np.arange(3), logged.action[:3]]]
    assert table.histories()[0] == [str(world.item_ids[0])]  # a camera session: the anchor only
    assert table.context.sum(axis=1).tolist() == [1.0] * len(table)  # the anchor category, one-hot
    predicted = np.tile(np.linspace(0.1, 0.4, 4), (len(table), 1))
    for estimate in (ips, snips, lambda log, t: doubly_robust(log, t, predicted)):
        assert estimate(table, target) == estimate(logged, target)
    items = logged.candidate_items(world)
    assert items[0].tolist() == [str(world.item_ids[i]) for i in candidates[0, :3]] + [None]


def test_a_scorer_over_the_simulators_candidates():
    world, sessions, candidates, logging, _ = setting()
    logged = log_impressions(world, sessions, candidates, logging, seed=0)
    table = logged.to_impressions(world)
    vocabulary = Vocabulary(world.item_ids.tolist(), name="item_id")
    card = vocabulary.index(world.item_ids[1])

    def prefers_the_card(batch: SequenceBatch) -> torch.Tensor:
        scores = torch.zeros(len(batch), len(vocabulary))  # [B, V]
        scores[:, card] = 1.0
        return scores

    scores = scorer_action_scores(table, prefers_the_card, vocabulary, logged.candidate_items(world))  # [S, 4]
    assert np.isneginf(scores[:, 3]).all()  # "show nothing" keeps the default -inf
    target = top_k_policy(scores, k=1)
    assert np.array_equal(target[:, :, 0], (candidates == 1).astype(float))
    assert ips(table, target) == ips(logged, (candidates == 1).astype(float))
