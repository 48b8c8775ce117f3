"""Stage 1: the scriptable generators score like the baselines they come from; retrieval is a union."""

import pytest
import torch

from tests.baselines.common import history_batch, tiny_datamodule
from tests.baselines.test_contract import TRAINING
from xsell.baselines import AssociationRules, ItemKNN, MostPopular
from xsell.ranking.candidates import NeighbourTable, PopularityScores, generator_of, retrieve


@pytest.fixture(scope="module")
def log():
    return tiny_datamodule({**TRAINING, "a": [*TRAINING["a"], "v", "w"], "b": [*TRAINING["b"], "x", "w"]}).prepared.log


HISTORIES = [["x", "y"], [], ["w", "v", "z", "y", "x"], ["z", "z", "v"]]


@pytest.mark.parametrize("baseline", [ItemKNN(k=3), ItemKNN(k=5, window=2, history=3, decay=0.5),
                                      AssociationRules(metric="lift", aggregate="max", history=2),
                                      AssociationRules(aggregate="sum")], ids=str)
def test_generators_score_like_their_baseline(log, baseline):
    baseline.fit(log)
    batch = history_batch(log, HISTORIES)
    generator = generator_of(baseline, log.training_item_counts())
    expected = baseline.score(batch) - torch.from_numpy(baseline.prior).float()  # without the tie-breaker
    torch.testing.assert_close(generator(batch.items), expected, rtol=1e-5, atol=1e-6)


def test_popularity_and_unknown_baselines(log):
    counts = log.training_item_counts()
    scores = generator_of(MostPopular().fit(log), counts)(history_batch(log, HISTORIES).items)
    torch.testing.assert_close(scores[0], torch.log1p(torch.from_numpy(counts)).float())
    with pytest.raises(TypeError, match="no candidate generator"):
        generator_of(object(), counts)
    with pytest.raises(ValueError, match="max_neighbours"):
        generator_of(AssociationRules(aggregate="sum").fit(log), counts, max_neighbours=2)


def test_retrieve_is_the_union_of_top_lists_without_hidden_items():
    first = torch.tensor([[0.0, 0.0, 5.0, 4.0, 3.0, 2.0, 1.0]])  # top 2 (not hidden): 2, 3
    second = torch.tensor([[0.0, 0.0, 1.0, 0.0, 2.0, 9.0, 3.0]])  # 5 hidden -> top 2: 6, 4
    hidden = torch.tensor([[True, True, False, False, False, True, False]])
    items, valid, values, ranks = retrieve([first, second], hidden, torch.zeros(7), per_generator=2)
    assert sorted(items[valid].tolist()) == [2, 3, 4, 6]
    by_item = {int(i): c for c, i in enumerate(items[0]) if valid[0, c]}
    assert [int(ranks[0, 0, by_item[i]]) for i in (2, 3, 4, 6)] == [1, 2, 3, 3]  # 3 = not in the list
    assert [int(ranks[1, 0, by_item[i]]) for i in (2, 3, 4, 6)] == [3, 3, 2, 1]
    assert [float(values[1, 0, by_item[i]]) for i in (2, 3, 4, 6)] == [1.0, 0.0, 2.0, 3.0]


def test_a_shared_item_is_one_candidate_and_ties_go_to_popular_items():
    scores = torch.zeros(1, 6)
    prior = torch.tensor([0.0, 0.0, 0.1, 0.4, 0.2, 0.3]) * 1e-6
    items, valid, _, _ = retrieve([scores, scores], torch.zeros(1, 6, dtype=torch.bool).index_fill(1, torch.tensor([0, 1]), True),
                                  prior, per_generator=2)
    assert sorted(items[valid].tolist()) == [3, 5]  # the two most popular, once each
    assert int(valid.sum()) == 2


def test_neighbour_table_scripts_and_reads_only_the_newest_items():
    table = NeighbourTable(torch.tensor([[0], [0], [3], [2]]), torch.tensor([[0.0], [0.0], [1.0], [2.0]]),
                           history=1, decay=0.5)
    items = torch.tensor([[2, 3], [3, 2], [0, 0]])
    expected = torch.tensor([[0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(table(items), expected)
    torch.testing.assert_close(torch.jit.script(table)(items), expected)
    torch.testing.assert_close(torch.jit.script(PopularityScores(torch.tensor([0.0, 1.0])))(items[:, :1]),
                               torch.log1p(torch.tensor([[0.0, 1.0]] * 3)))
