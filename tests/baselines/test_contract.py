"""Every baseline: the scorer contract of the evaluation protocol, and no learning from targets."""

import pytest
import torch

from tests.baselines.common import history_batch, tiny_datamodule
from xsell.baselines import EASE, AssociationRules, ItemKNN, Markov, MostPopular
from xsell.evaluation.protocol import evaluate_scorer

BASELINES = {
    "most_popular": MostPopular,
    "item_knn": lambda: ItemKNN(k=5),
    "item_knn_window": lambda: ItemKNN(k=5, window=2, decay=0.8),
    "markov": Markov,
    "association_rules": lambda: AssociationRules(metric="lift", aggregate="sum"),
    "ease": lambda: EASE(l2=1.0),
}
TRAINING = {"a": ["x", "y", "z", "x"], "b": ["y", "z", "v"], "c": ["z", "v", "x"], "d": ["v", "w"], "e": ["w", "x"]}


def with_targets(targets: dict[str, list[str]]) -> dict[str, list[str]]:
    return {user: items + targets.get(user, []) for user, items in TRAINING.items()}


@pytest.fixture(scope="module")
def datamodule():
    return tiny_datamodule(with_targets({"a": ["v", "w"], "b": ["x", "q"], "c": ["w", "y"]}))


@pytest.mark.parametrize("name", BASELINES)
def test_scores_every_item_through_the_protocol(name, datamodule):
    log = datamodule.prepared.log
    baseline = BASELINES[name]()
    assert baseline.fit(log) is baseline
    batch = history_batch(log, [["x", "y"], [], ["q"], ["w", "v", "z", "y", "x"]])  # q: unknown
    scores = baseline.score(batch)
    assert scores.shape == (4, len(log.item_vocab)) and scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    for exclude_seen in (False, True):
        metrics = evaluate_scorer(baseline.score, datamodule.test_dataloader(), ks=(1, 3),
                                  exclude_seen=exclude_seen)
        assert 0.0 <= metrics["ndcg@3"] <= metrics["recall@3"] <= 1.0


@pytest.mark.parametrize("name", BASELINES)
def test_score_before_fit_is_an_error(name, datamodule):
    with pytest.raises(RuntimeError, match="fit"):
        BASELINES[name]().score(history_batch(datamodule.prepared.log, [["x"]]))


@pytest.mark.parametrize("name", BASELINES)
def test_fit_ignores_validation_and_test_targets(name):
    # The same training events with other (known) targets: a fitted baseline must not change at all.
    first = tiny_datamodule(with_targets({"a": ["v", "w"], "b": ["x", "w"], "c": ["w", "y"]})).prepared.log
    second = tiny_datamodule(with_targets({"a": ["z", "y"], "b": ["y", "x"], "c": ["y", "v"]})).prepared.log
    assert first.item_vocab == second.item_vocab
    histories = [["x"], ["y"], ["z"], ["v"], ["w"], ["x", "v"], ["w", "z", "y"], []]
    scores = [BASELINES[name]().fit(log).score(history_batch(log, histories)) for log in (first, second)]
    torch.testing.assert_close(scores[0], scores[1], rtol=0, atol=0)
