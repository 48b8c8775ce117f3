"""Bandits against the simulator: rounds of sessions, each agent chooses one offer (or none) per session,
customers answer, agents learn; cumulative reward and regret against the best candidate in expectation.

Agents have ``choose(features [S, A, d], available [S, A]) -> [S]`` and ``update(features [S, d], rewards
[S])`` (:class:`~xsell.bandits.linucb.LinUCB`, :class:`~xsell.bandits.thompson.LinearThompson`,
:class:`GreedyRanking`). The reward of a session is the chosen ``reward`` (see ``xsell.offpolicy.REWARDS``)
minus ``offer_cost`` when an offer is shown: the price of the screen space and of annoying the customer, which
makes "show nothing" the right answer where no candidate is worth it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import polars as pl

from xsell.offpolicy.logged import REWARDS, expected_rewards
from xsell.simulation.response import ResponseModel
from xsell.simulation.sessions import NO_ITEM, Sessions
from xsell.simulation.world import ShopWorld


class Agent(Protocol):
    """What :func:`run_bandit` plays."""

    def choose(self, features: np.ndarray, available: np.ndarray) -> np.ndarray:
        """``[S]`` candidate per session from ``[S, A, d]`` features, among ``available`` ``[S, A]`` ones."""
        ...

    def update(self, features: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from ``[S, d]`` features of the shown candidates and their ``[S]`` rewards."""
        ...


class GreedyRanking:
    """The model's ranking without learning: always the first available candidate (its top item)."""

    def choose(self, features: np.ndarray, available: np.ndarray) -> np.ndarray:
        """``[S]`` index of the first available candidate."""
        return available.argmax(axis=1)

    def update(self, features: np.ndarray, rewards: np.ndarray) -> None:
        """Nothing to learn."""
        return None


def run_bandit(agent: Agent, world: ShopWorld, sessions: Sessions, candidates: np.ndarray, features: np.ndarray, *,
               rounds: int, reward: str = "conversion", offer_cost: float = 0.0,
               response: ResponseModel | None = None, seed: int = 0) -> pl.DataFrame:
    """Play ``agent`` over ``sessions`` split into ``rounds`` equal batches (learning after each).

    Args:
        candidates: ``[S, A]`` world indices (``NO_ITEM`` = show nothing; :func:`~xsell.simulation.candidates.
            top_candidates`). features: ``[S, A, d]`` (:func:`~xsell.bandits.features.offer_features`).
        reward: what a session earns (``REWARDS``); offer_cost: subtracted when an offer is shown.
        seed: seeds the customers' answers (the same for every agent: common random numbers).
    Returns:
        one row per round: ``round``, ``sessions``, ``reward`` (observed, mean), ``expected_reward`` (of the
        chosen offers, mean), ``best_reward`` (the best candidate's, mean), ``shown`` (share of sessions with
        an offer), and the running ``cumulative_reward`` / ``cumulative_regret`` (sums of expected values).
    """
    if reward not in REWARDS:
        raise ValueError(f"unknown reward {reward!r}; known: {list(REWARDS)}")
    if features.shape[:2] != candidates.shape or candidates.shape[0] != len(sessions):
        raise ValueError(f"features {features.shape[:2]} and candidates {candidates.shape} must be [{len(sessions)}, A]")
    if not 1 <= rounds <= len(sessions):
        raise ValueError(f"rounds must lie in [1, {len(sessions)}], got {rounds}")
    response = ResponseModel() if response is None else response
    shown = candidates != NO_ITEM  # [S, A]
    value = expected_rewards(world, sessions, candidates, reward, response) - offer_cost * shown  # [S, A]
    available = shown | (np.arange(candidates.shape[1]) == candidates.shape[1] - 1)  # empty slots only at the end
    rows = []
    for r, part in enumerate(np.array_split(np.arange(len(sessions)), rounds)):  # learning is sequential
        choice = agent.choose(features[part], available[part])  # [n]
        offers = candidates[part, choice][:, None]  # [n, 1]
        outcomes = response.simulate(world, sessions.take(part), offers, seed=seed + r)
        observed = {"conversion": outcomes.bought.any(axis=1), "cross_sell_revenue": outcomes.cross_sell_value,
                    "order_value": outcomes.order_value}[reward] - offer_cost * (offers[:, 0] != NO_ITEM)
        agent.update(features[part, choice], observed)
        rows.append({"round": r, "sessions": part.size, "reward": float(observed.mean()),
                     "expected_reward": float(value[part, choice].mean()),
                     "best_reward": float(np.where(available[part], value[part], -np.inf).max(axis=1).mean()),
                     "shown": float((offers[:, 0] != NO_ITEM).mean())})
    frame = pl.DataFrame(rows)
    return frame.with_columns(
        (pl.col("expected_reward") * pl.col("sessions")).cum_sum().alias("cumulative_reward"),
        ((pl.col("best_reward") - pl.col("expected_reward")) * pl.col("sessions")).cum_sum().alias("cumulative_regret"),
    )
