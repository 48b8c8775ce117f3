"""Features of (session, candidate offer) pairs for linear bandits, from item vectors.

Sessions have a context vector ``c`` (``[S, D]``) and items a vector ``e`` (``[N, D]``) in the same space, so
``[c * e, e, 1, 0]`` spans the greedy score ``c . e`` (the sum of the first block) and lets the bandit reweight
it; "show nothing" is ``[0, 0, 0, 1]`` (its own learned value). Two sources of vectors:

- :func:`model_vectors`: a trained model's ``encode(batch)`` and ``item_embeddings()``;
- :func:`category_transition_vectors`: ground-truth-free, from the shop's log: the context is the observed
  distribution of the category that follows the anchor's category, the item its category one-hot.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.interactions import Interactions
from xsell.data.schema import ITEM, UNKNOWN_INDEX, USER
from xsell.data.vocabulary import Vocabulary
from xsell.simulation.policies import history_batch
from xsell.simulation.sessions import NO_ITEM, Sessions
from xsell.simulation.world import ShopWorld


def offer_features(contexts: np.ndarray, item_vectors: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``[S, A, 2D + 2]`` features of ``candidates`` ``[S, A]`` (world indices, ``NO_ITEM`` = show nothing)."""
    shown = candidates != NO_ITEM  # [S, A]
    items = item_vectors[np.maximum(candidates, 0)] * shown[..., None]  # [S, A, D]
    return np.concatenate([contexts[:, None, :] * items, items, shown[..., None], ~shown[..., None]],
                          axis=2).astype(np.float64)


def model_vectors(encode: Callable[[SequenceBatch], Tensor], item_embeddings: Tensor, vocabulary: Vocabulary,
                  world: ShopWorld, sessions: Sessions) -> tuple[np.ndarray, np.ndarray]:
    """``(contexts [S, D], items [N, D])`` from a model's ``encode`` and ``item_embeddings()`` (``[V, D]``);
    world items the vocabulary lacks get zero vectors."""
    to_vocabulary = world.to_vocabulary(vocabulary)  # [N]
    with torch.no_grad():
        contexts = encode(history_batch(sessions, to_vocabulary)).float().cpu().numpy()  # [S, D]
        table = item_embeddings.detach().float().cpu().numpy()  # [V, D]
    items = np.where((to_vocabulary != UNKNOWN_INDEX)[:, None], table[to_vocabulary], 0.0)
    return contexts.astype(np.float64), items.astype(np.float64)


def category_transition_vectors(shop: Interactions, world: ShopWorld,
                                sessions: Sessions) -> tuple[np.ndarray, np.ndarray]:
    """``(contexts [S, C], items [N, C])``: the anchor category's observed next-category distribution (from
    consecutive events of the same customer in ``shop.events``, other categories only) and category one-hots."""
    events = shop.events.select(USER, ITEM)
    category = world.category[world.item_index(events.get_column(ITEM))]
    user = events.get_column(USER).to_numpy()
    step = (user[1:] == user[:-1]) & (category[1:] != category[:-1])
    n = len(world.category_names)
    counts = np.bincount(category[:-1][step] * n + category[1:][step], minlength=n * n).reshape(n, n)
    transition = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return transition[world.category[sessions.anchor]], np.eye(n)[world.category]


