import math

import numpy as np
import pytest

from tests.baselines.common import history_batch, index, scores_by_id, tiny_datamodule
from xsell.baselines import ItemKNN

# Training: a x y z (validation w, test x); b x y, c y z, d w x (training only).
# Baskets (users): x {a, b, d}, y {a, b, c}, z {a, c}, w {d}; both: xy 2, xz 1, yz 2, wx 1.
SEQUENCES = {"a": ["x", "y", "z", "w", "x"], "b": ["x", "y"], "c": ["y", "z"], "d": ["w", "x"]}
ITEMS = ["x", "y", "z", "w"]
S6, S3 = math.sqrt(6), math.sqrt(3)


@pytest.fixture(scope="module")
def log():
    return tiny_datamodule(SEQUENCES).prepared.log


def similarity(knn: ItemKNN, log, items=ITEMS) -> np.ndarray:
    rows = [index(log, i) for i in items]
    return knn.similarity[rows][:, rows].toarray()


def test_basket_cosine(log):
    knn = ItemKNN(k=10, tie_break=0.0).fit(log)
    expected = [
        [0, 2 / 3, 1 / S6, 1 / S3],
        [2 / 3, 0, 2 / S6, 0],
        [1 / S6, 2 / S6, 0, 0],
        [1 / S3, 0, 0, 0],
    ]
    np.testing.assert_allclose(similarity(knn, log), expected, rtol=1e-6)
    shrunk = ItemKNN(k=10, shrink=1.0, tie_break=0.0).fit(log)
    assert similarity(shrunk, log)[0, 1] == pytest.approx(2 / (3 + 1))


def test_scores_sum_recent_items_with_decay(log):
    knn = ItemKNN(k=10, history=2, decay=0.5, tie_break=0.0).fit(log)
    # History z x y, last two: x (weight 0.5), y (weight 1); z falls outside the window.
    scores = scores_by_id(log, knn.score(history_batch(log, [["z", "x", "y"]])), ITEMS)
    np.testing.assert_allclose(scores[0], [2 / 3, 0.5 * 2 / 3, 0.5 / S6 + 2 / S6, 0.5 / S3], rtol=1e-6)


def test_top_k_neighbours_only(log):
    knn = ItemKNN(k=1, tie_break=0.0).fit(log)
    kept = similarity(knn, log) > 0
    # x's best is y (2/3 > 1/sqrt3 > 1/sqrt6), y's and z's are each other (2/sqrt6), w's is x.
    assert kept.tolist() == [[False, True, False, False], [False, False, True, False],
                             [False, True, False, False], [True, False, False, False]]


def test_successor_window_is_directed(log):
    one = similarity(ItemKNN(k=10, window=1, tie_break=0.0).fit(log), log)
    # x->y (a, b) 2, y->z (a, c) 2, w->x (d) 1; training events x 3, y 3, z 2, w 1.
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2], expected[3, 0] = 2 / 3, 2 / S6, 1 / S3
    np.testing.assert_allclose(one, expected, rtol=1e-6)
    two = similarity(ItemKNN(k=10, window=2, tie_break=0.0).fit(log), log)
    expected[0, 2] = 1 / S6  # a: x . z
    np.testing.assert_allclose(two, expected, rtol=1e-6)


def test_targets_give_no_evidence(log):
    # a's validation target w follows z and y: leaked, it would link w with a's basket and successors.
    for knn in (ItemKNN(k=10, tie_break=0.0), ItemKNN(k=10, window=3, tie_break=0.0)):
        knn.fit(log)
        sim = similarity(knn, log)
        assert sim[1, 3] == sim[2, 3] == sim[3, 1] == sim[3, 2] == 0.0


def test_no_evidence_falls_back_to_popularity(log):
    knn = ItemKNN(k=10).fit(log)
    scores = scores_by_id(log, knn.score(history_batch(log, [[]])), ITEMS)[0]
    assert scores[0] == scores[1] > scores[2] > scores[3] > 0  # counts x 3, y 3, z 2, w 1
