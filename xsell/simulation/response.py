"""How simulated customers answer the offers they are shown.

For a session with anchor ``a`` (the item just carted), a customer of segment ``g`` and offers ``j_1..j_K`` in
slots ``1..K`` (``n`` of them non-empty), with ``q = world.affinity(a, j)`` the shop's ground truth:

- click:        ``P(click_k) = position_bias_k * fatigue ** (n - 1) * (click_floor + click_weight * q)``
- buy | click:  ``P(buy_k | click_k) = exp(-(price_base + sensitivity_g) * price_j / price_a)
                * (buy_floor + buy_weight * q)`` (bargain hunters reject dear add-ons)
- abandonment:  ``P(abandon) = 1 - purchase_prob_g * prod_k (1 - annoyance * (1 - q_k))``: the cart is
  abandoned at the segment's base rate, and every offer that does not fit annoys a little more;
- an abandoned cart buys nothing; otherwise the order is the anchor plus the offers bought;
- a share ``survey_rate`` of sessions with offers answers "was this helpful?", yes with probability
  ``survey_noise + (1 - 2 * survey_noise) * max_k q_k / world.max_affinity`` (the answer
  :func:`xsell.data.survey.answer_survey` gives for the best offer shown).

Draws use one seeded generator with arrays of fixed shapes in a fixed order, so two policies simulated on the
same sessions with the same seed share their random numbers (common random numbers: paired comparisons
between policies have far less noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xsell.simulation.sessions import NO_ITEM, Sessions
from xsell.simulation.world import ShopWorld


@dataclass(frozen=True)
class Probabilities:
    """What a customer would do, in expectation: ``click``, ``buy`` (clicked and bought given the cart is
    kept) ``[S, K]``; ``abandon``, ``helpful`` ``[S]``; ``shown`` ``[S, K]`` bool."""

    click: np.ndarray
    buy: np.ndarray
    abandon: np.ndarray
    helpful: np.ndarray
    shown: np.ndarray


@dataclass(frozen=True)
class Outcomes:
    """Realised session outcomes (numpy arrays, one row per session).

    Attributes:
        offers: ``[S, K]`` world item indices shown (``NO_ITEM`` = empty slot).
        clicked / bought: ``[S, K]`` bool; ``bought`` only where the cart was kept.
        abandoned: ``[S]`` bool, the cart was abandoned.
        order_value: ``[S]`` anchor price plus offers bought; 0 when abandoned.
        cross_sell_value: ``[S]`` price of the offers bought.
        surveyed / helpful: ``[S]`` bool, the customer answered the survey / said the offers were helpful.
    """

    offers: np.ndarray
    clicked: np.ndarray
    bought: np.ndarray
    abandoned: np.ndarray
    order_value: np.ndarray
    cross_sell_value: np.ndarray
    surveyed: np.ndarray
    helpful: np.ndarray

    def __len__(self) -> int:
        return int(self.abandoned.size)


@dataclass(frozen=True)
class ResponseModel:
    """Parameters of the customers' answers (see the module docstring for the formulas).

    Args:
        position_bias: attention of slot ``k`` (0-based) is ``1 / log2(k + 2) ** position_decay``.
        fatigue: click multiplier per extra offer shown beyond the first.
        click_floor / click_weight: click probability of an unrelated / per unit of affinity.
        buy_floor / buy_weight: purchase-after-click probability of an unrelated / per unit of affinity.
        price_base: price aversion every segment has on top of its ``price_sensitivity``.
        annoyance: extra abandonment risk of one offer without affinity.
        survey_rate: share of sessions with offers whose customer answers the survey.
        survey_noise: probability that an unrelated offer is called helpful (and that the best one is not).
    """

    position_decay: float = 1.0
    fatigue: float = 0.85
    click_floor: float = 0.02
    click_weight: float = 0.6
    buy_floor: float = 0.05
    buy_weight: float = 1.0
    price_base: float = 0.5
    annoyance: float = 0.01
    survey_rate: float = 0.1
    survey_noise: float = 0.1

    def __post_init__(self) -> None:
        for name in ("fatigue", "click_floor", "click_weight", "buy_floor", "annoyance", "survey_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.survey_noise <= 0.5:
            raise ValueError(f"survey_noise must lie in [0, 0.5], got {self.survey_noise}")
        if self.position_decay < 0 or self.buy_weight < 0:
            raise ValueError("position_decay and buy_weight must be non-negative")

    def position_bias(self, k: int) -> np.ndarray:
        """``[k]`` attention per slot, 1 for the first."""
        return 1.0 / np.log2(np.arange(k) + 2.0) ** self.position_decay

    def probabilities(self, world: ShopWorld, sessions: Sessions, offers: np.ndarray) -> Probabilities:
        """Expected behaviour for ``offers`` ``[S, K]`` (world indices, ``NO_ITEM`` = empty slot)."""
        offers = np.asarray(offers, dtype=np.int64).reshape(len(sessions), -1)
        shown = offers != NO_ITEM  # [S, K]
        item = np.maximum(offers, 0)
        fit = np.where(shown, world.affinity(sessions.anchor[:, None], item), 0.0)  # [S, K]
        n_shown = shown.sum(axis=1, keepdims=True)  # [S, 1]
        attention = self.position_bias(offers.shape[1])[None, :] * self.fatigue ** np.maximum(n_shown - 1, 0)
        click = np.where(shown, attention * np.minimum(self.click_floor + self.click_weight * fit, 1.0), 0.0)
        aversion = self.price_base + world.segment_price_sensitivity[sessions.segment][:, None]  # [S, 1]
        ratio = world.price[item] / world.price[sessions.anchor][:, None]  # [S, K]
        buy = click * np.exp(-aversion * ratio) * np.minimum(self.buy_floor + self.buy_weight * fit, 1.0)
        keep = world.segment_purchase_prob[sessions.segment] * np.prod(
            np.where(shown, 1.0 - self.annoyance * (1.0 - fit), 1.0), axis=1)  # [S]
        best = fit.max(axis=1, initial=0.0) / max(world.max_affinity, 1e-12)
        helpful = np.where(shown.any(axis=1), self.survey_noise + (1.0 - 2.0 * self.survey_noise) * best, 0.0)
        return Probabilities(click=click, buy=np.minimum(buy, click), abandon=1.0 - keep, helpful=helpful,
                             shown=shown)

    def expected_order_value(self, world: ShopWorld, sessions: Sessions, offers: np.ndarray) -> np.ndarray:
        """``[S]`` expected order value (0 for an abandoned cart): the exact mean of ``simulate``'s draws."""
        p = self.probabilities(world, sessions, offers)
        add_on = (p.buy * world.price[np.maximum(offers, 0)]).sum(axis=1)
        return (1.0 - p.abandon) * (world.price[sessions.anchor] + add_on)

    def simulate(self, world: ShopWorld, sessions: Sessions, offers: np.ndarray, *, seed: int = 0) -> Outcomes:
        """Draw the customers' answers to ``offers`` ``[S, K]`` (seeded; common random numbers across policies
        with the same number of sessions and slots)."""
        offers = np.asarray(offers, dtype=np.int64).reshape(len(sessions), -1)
        p = self.probabilities(world, sessions, offers)
        rng = np.random.default_rng(seed)
        n, k = offers.shape
        u_abandon, u_survey, u_helpful = rng.random(n), rng.random(n), rng.random(n)
        u_click, u_buy = rng.random((n, k)), rng.random((n, k))
        abandoned = u_abandon < p.abandon
        clicked = u_click < p.click
        # buy | click has probability buy / click; a shared u_buy keeps it monotone in that ratio.
        bought = clicked & (u_buy * p.click < p.buy) & ~abandoned[:, None]
        add_on = np.where(bought, world.price[np.maximum(offers, 0)], 0.0).sum(axis=1)
        surveyed = p.shown.any(axis=1) & (u_survey < self.survey_rate)
        return Outcomes(
            offers=offers, clicked=clicked, bought=bought, abandoned=abandoned,
            order_value=np.where(abandoned, 0.0, world.price[sessions.anchor] + add_on),
            cross_sell_value=add_on, surveyed=surveyed, helpful=surveyed & (u_helpful < p.helpful),
        )
