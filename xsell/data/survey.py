"""The synthetic shop's in-app survey: customers answer "was this recommendation helpful?" from the ground truth.

A *policy* shows recommendations after some events (``shown``: one row per shown item with ``user_id``,
``anchor_item_id``, ``recommended_item_id`` and ``timestamp``); :func:`answer_survey` answers each one,
vectorised and seeded: the customer finds item ``j`` shown after anchor ``i`` helpful with probability

    ``p = noise + (1 - 2 * noise) * affinity(i, j) / max_affinity``

where ``affinity`` is :meth:`ShopGroundTruth.affinity` (the planted complement probability) and
``max_affinity`` its largest value, so the best complement is helpful with probability ``1 - noise`` and an
unrelated or same-category item with probability ``noise``. :func:`random_policy` is the simplest policy.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from xsell.data.feedback import FEEDBACK_COLUMNS
from xsell.data.interactions import Interactions
from xsell.data.schema import ANCHOR, EVENT, HELPFUL, ITEM, RECOMMENDED, TIMESTAMP, USER
from xsell.data.synthetic import ShopGroundTruth

ANSWER_DELAY_SECONDS = 1  # an answer comes right after the event it follows


def answer_survey(truth: ShopGroundTruth, shown: pl.DataFrame, *, noise: float = 0.1, seed: int = 0) -> pl.DataFrame:
    """Answers to shown recommendations: ``shown`` plus ``helpful`` (Boolean), in the feedback schema.

    Args:
        truth: the shop's ground truth. shown: ``user_id``, ``anchor_item_id``, ``recommended_item_id``,
            ``timestamp`` (when the answer is given). noise: probability of a random-looking answer at the
            extremes (0: answers follow the normalised affinity exactly). seed: seeds the answers.
    """
    if not 0.0 <= noise <= 0.5:
        raise ValueError(f"noise must lie in [0, 0.5], got {noise}")
    affinity = truth.affinity(shown.get_column(ANCHOR).to_numpy(), shown.get_column(RECOMMENDED).to_numpy())  # [S]
    top = float(truth.complements.get_column("probability").max() or 0.0)
    normalised = affinity / top if top > 0 else np.zeros_like(affinity)
    helpful = np.random.default_rng(seed).random(affinity.size) < noise + (1.0 - 2.0 * noise) * normalised
    return shown.with_columns(pl.Series(HELPFUL, helpful)).select(FEEDBACK_COLUMNS)


def random_policy(shop: Interactions, *, k: int = 10, after: str = "purchase", fraction: float = 1.0,
                  seed: int = 0) -> pl.DataFrame:
    """``k`` catalog items drawn uniformly (without replacement per event) after each ``after`` event.

    ``fraction`` of those events (drawn with ``seed``) get a survey. Returns the ``shown`` frame of
    :func:`answer_survey`, answered ``ANSWER_DELAY_SECONDS`` after the event.
    """
    if shop.items is None:
        raise ValueError(f"{shop.name} has no item table to draw recommendations from")
    rng = np.random.default_rng(seed)
    anchors = shop.events.filter(pl.col(EVENT) == after) if EVENT in shop.events.columns else shop.events
    anchors = anchors.filter(pl.Series(rng.random(anchors.height) < fraction))
    catalog = shop.items.get_column(ITEM).cast(pl.String).to_numpy()
    k = min(k, catalog.size)
    picks = np.argpartition(rng.random((anchors.height, catalog.size)), k - 1, axis=1)[:, :k]  # [A, k] distinct
    return pl.DataFrame({
        USER: np.repeat(anchors.get_column(USER).to_numpy(), k),
        ANCHOR: np.repeat(anchors.get_column(ITEM).to_numpy(), k),
        RECOMMENDED: catalog[picks.ravel()],
        TIMESTAMP: np.repeat(anchors.get_column(TIMESTAMP).to_numpy() + ANSWER_DELAY_SECONDS, k),
    })


def random_survey(shop: Interactions, *, k: int = 10, after: str = "purchase", fraction: float = 1.0,
                  noise: float = 0.1, seed: int = 0) -> pl.DataFrame:
    """The feedback table of the random policy on ``shop`` (:func:`random_policy` + :func:`answer_survey`)."""
    shown = random_policy(shop, k=k, after=after, fraction=fraction, seed=seed)
    return answer_survey(shop.ground_truth, shown, noise=noise, seed=seed + 1)
