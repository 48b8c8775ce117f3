"""A simple reward model for doubly robust estimates: the mean logged reward of each (anchor category, offer
category) pair, shrunk towards the mean reward of the offer's category with ``prior_strength`` pseudo-counts.

It reads only what a shop observes (item categories from the item table and the logged rewards), never the
simulator's ground truth.
"""

from __future__ import annotations

import numpy as np

from xsell.offpolicy.logged import LoggedImpressions
from xsell.simulation.sessions import NO_ITEM, Sessions
from xsell.simulation.world import ShopWorld


class CategoryPairRewardModel:
    """Mean reward per (anchor category, offer category); "show nothing" is one more offer category.

    Args:
        world: supplies the item -> category map (observable catalog data).
        prior_strength: pseudo-counts pulling a rarely logged pair towards its offer category's mean.
    """

    def __init__(self, world: ShopWorld, prior_strength: float = 5.0) -> None:
        self.world = world
        self.prior_strength = prior_strength
        self.num_categories = len(world.category_names) + 1  # the last one is "show nothing"
        self.table: np.ndarray | None = None  # [C, C + 1]

    def _offer_category(self, candidates: np.ndarray) -> np.ndarray:
        return np.where(candidates == NO_ITEM, self.num_categories - 1, self.world.category[np.maximum(candidates, 0)])

    def fit(self, logged: LoggedImpressions) -> CategoryPairRewardModel:
        """Count rewards of the logged (anchor category, offer category) pairs."""
        rows = np.arange(len(logged))
        anchor = self.world.category[logged.sessions.anchor]
        offer = self._offer_category(logged.candidates[rows, logged.action])
        shape = (self.num_categories - 1, self.num_categories)
        cell = np.ravel_multi_index((anchor, offer), shape)
        total = np.bincount(cell, weights=logged.reward, minlength=np.prod(shape)).reshape(shape)
        count = np.bincount(cell, minlength=np.prod(shape)).reshape(shape).astype(np.float64)
        global_mean = float(logged.reward.mean())
        offer_mean = (total.sum(0) + self.prior_strength * global_mean) / (count.sum(0) + self.prior_strength)
        self.table = (total + self.prior_strength * offer_mean[None, :]) / (count + self.prior_strength)
        return self

    def predict(self, sessions: Sessions, candidates: np.ndarray) -> np.ndarray:
        """``[S, A]`` predicted reward of each candidate."""
        if self.table is None:
            raise RuntimeError("CategoryPairRewardModel.fit() must run before predict()")
        anchor = self.world.category[sessions.anchor]
        return self.table[anchor[:, None], self._offer_category(candidates)]
