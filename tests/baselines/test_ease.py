import numpy as np
import pytest
import torch

from tests.baselines.common import history_batch, index, scores_by_id, tiny_datamodule
from xsell.baselines import EASE

# Training baskets: a {x, y, z} (validation x, test w), b {x, y}, c {y, z}, e {x}; w is only a target.
SEQUENCES = {"a": ["x", "y", "z", "x", "w"], "b": ["x", "y"], "c": ["y", "z"], "e": ["x"]}
ITEMS = ["x", "y", "z"]
X = np.array([[1, 1, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0]], dtype=np.float64)  # users a b c e; items x y z


def steck(x: np.ndarray, l2: float) -> np.ndarray:
    """The closed form written as in the paper, with numpy's solver."""
    p = np.linalg.solve(x.T @ x + l2 * np.eye(x.shape[1]), np.eye(x.shape[1]))
    return np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))


@pytest.fixture(scope="module")
def log():
    return tiny_datamodule(SEQUENCES).prepared.log


def test_weights_match_the_closed_form(log):
    ease = EASE(l2=2.0).fit(log)
    rows = torch.tensor([int(ease.column[index(log, i)]) for i in ITEMS])
    weights = ease.weights[rows][:, rows].double().numpy()
    np.testing.assert_allclose(weights, steck(X, 2.0), rtol=1e-5, atol=1e-7)
    assert np.diag(weights).tolist() == [0.0, 0.0, 0.0]


def test_scores_are_history_times_weights(log):
    ease = EASE(l2=2.0, tie_break=0.0).fit(log)
    scores = scores_by_id(log, ease.score(history_batch(log, [["x", "z", "x"], ["y"], []])), ITEMS)
    b = steck(X, 2.0)
    np.testing.assert_allclose(scores, [b[0] + b[2], b[1], np.zeros(3)], rtol=1e-5, atol=1e-7)


def test_max_items_keeps_the_most_popular(log):
    ease = EASE(l2=2.0, max_items=2, tie_break=1e-3).fit(log)  # counts x 3, y 3, z 2: z dropped
    assert sorted(ease.items.tolist()) == sorted([index(log, "x"), index(log, "y")])
    scores = scores_by_id(log, ease.score(history_batch(log, [["z", "x"]])), ITEMS)[0]
    b = steck(X[:, :2], 2.0)
    np.testing.assert_allclose(scores, [b[0, 0] + 1e-3, b[0, 1] + 1e-3, 1e-3 * 2 / 3], rtol=1e-5, atol=1e-7)


def test_full_history_reads_exclude(log):
    ease = EASE(l2=2.0, full_history=True, tie_break=0.0).fit(log)
    batch = history_batch(log, [["y"]])
    batch.exclude = torch.tensor([[index(log, "x"), index(log, "y"), 0]])
    scores = scores_by_id(log, ease.score(batch), ITEMS)[0]
    b = steck(X, 2.0)
    np.testing.assert_allclose(scores, b[0] + b[1], rtol=1e-5, atol=1e-7)


def test_test_only_item_gets_no_column(log):
    ease = EASE(l2=2.0, tie_break=0.0).fit(log)
    assert index(log, "w") == 1  # never in training: the unknown index, no column, score 0
    assert int(ease.column[1]) == -1
    assert ease.score(history_batch(log, [["x"]]))[0, 1].item() == 0.0
