from __future__ import annotations

import numpy as np

from xsell.bandits import category_transition_vectors, model_vectors, offer_features
from xsell.simulation import NO_ITEM, ScoreFunctionPolicy, sample_sessions

from ..simulation.worlds import camera_sessions, small_shop, tiny_model, tiny_world


def test_offer_features_layout():
    contexts = np.array([[1.0, 2.0]])
    items = np.array([[3.0, 4.0], [5.0, 6.0]])
    features = offer_features(contexts, items, np.array([[1, NO_ITEM]]))
    assert features.shape == (1, 2, 6)
    assert features[0, 0].tolist() == [5.0, 12.0, 5.0, 6.0, 1.0, 0.0]  # c * e, e, shown, nothing
    assert features[0, 1].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert features[0, 0, :2].sum() == contexts[0] @ items[1]  # the greedy score is in the span


def test_category_transitions_from_the_log_find_the_planted_complements():
    shop, world = small_shop()
    sessions = sample_sessions(shop, world, 300, seed=0)
    contexts, items = category_transition_vectors(shop, world, sessions)
    assert contexts.shape == (300, len(world.category_names)) and items.shape == (world.num_items, contexts.shape[1])
    assert np.allclose(contexts.sum(axis=1), 1.0)
    anchor_category = world.category[sessions.anchor]
    assert (contexts[np.arange(300), anchor_category] == 0).all()  # transitions to other categories only
    camera = world.category_names.index("camera")
    row = contexts[anchor_category == camera][0]
    assert world.category_names[int(row.argmax())] == "memory_card"  # the planted 0.7 x 0.7 pair
    assert row[world.category_names.index("camera_bag")] > 2 * np.median(row)  # 0.062 vs 0.021


def test_model_vectors_reproduce_the_model_scores():
    model, vocabulary = tiny_model()
    world, sessions = tiny_world(), camera_sessions(3)
    contexts, items = model_vectors(model.encode, model.item_embeddings(), vocabulary, world, sessions)
    assert contexts.shape == (3, 8) and items.shape == (4, 8)
    policy = ScoreFunctionPolicy(model.score, vocabulary, world)
    assert np.allclose(contexts @ items.T, policy.scores(sessions), atol=1e-5)
    features = offer_features(contexts, items, np.tile([[1, 2, NO_ITEM]], (3, 1)))
    assert np.allclose(features[:, :2, :8].sum(axis=2), (contexts @ items.T)[:, [1, 2]], atol=1e-5)
