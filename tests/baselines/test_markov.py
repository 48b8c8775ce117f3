import numpy as np
import pytest

from tests.baselines.common import history_batch, scores_by_id, tiny_datamodule
from xsell.baselines import Markov

# Training sequences: a x y x z (validation y, test x), b x z (validation x, test q), c y x (training only).
# Consecutive training pairs: x->y 1, x->z 2, y->x 2; z is never followed by a training event.
# Training counts x 4, y 2, z 2 of 8: popularity p = (x .5, y .25, z .25).
SEQUENCES = {"a": ["x", "y", "x", "z", "y", "x"], "b": ["x", "z", "x", "q"], "c": ["y", "x"]}
ITEMS = ["x", "y", "z"]


@pytest.fixture(scope="module")
def log():
    return tiny_datamodule(SEQUENCES).prepared.log


def test_transition_probabilities_with_popularity_smoothing(log):
    markov = Markov(alpha=1.0).fit(log)
    scores = scores_by_id(log, markov.score(history_batch(log, [["y", "x"], ["x", "y"]])), ITEMS)
    # After x: (C[x, j] + 1 * p(j)) / (3 + 1).
    np.testing.assert_allclose(scores[0], [(0 + 0.5) / 4, (1 + 0.25) / 4, (2 + 0.25) / 4], rtol=1e-6)
    # After y: (C[y, j] + p(j)) / (2 + 1).
    np.testing.assert_allclose(scores[1], [(2 + 0.5) / 3, 0.25 / 3, 0.25 / 3], rtol=1e-6)
    full = markov.score(history_batch(log, [["x"]]))
    assert full[0].sum().item() == pytest.approx(1.0)  # a distribution over the catalog


def test_alpha_shifts_mass_to_popularity(log):
    scores = scores_by_id(log, Markov(alpha=100.0).fit(log).score(history_batch(log, [["x"]])), ITEMS)
    np.testing.assert_allclose(scores[0], [(0 + 50) / 103, (1 + 25) / 103, (2 + 25) / 103], rtol=1e-6)


def test_validation_and_test_pairs_are_not_learned(log):
    # z -> y (a's validation target), z -> x (b's) and y -> x (a's test) would give z a row if leaked.
    markov = Markov(alpha=1.0).fit(log)
    scores = scores_by_id(log, markov.score(history_batch(log, [["z"], [], ["x", "q"]])), ITEMS)
    popularity = [0.5, 0.25, 0.25]
    np.testing.assert_allclose(scores, [popularity] * 3, rtol=1e-6)  # z, empty, unknown last: popularity


def test_alpha_must_be_positive():
    with pytest.raises(ValueError, match="alpha"):
        Markov(alpha=0.0)
