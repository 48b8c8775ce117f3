"""Logged impressions: one offer per session chosen by a stochastic logging policy, with its propensity.

The setting of off-policy evaluation: each session has ``A`` candidate actions (world item indices from a
model's top list; ``NO_ITEM`` = show nothing), a logging policy picks one with known probability, the customer
answers, and the log keeps (session, action, propensity, reward). Target policies are given as ``[S, A]``
action probabilities over the same candidates. :meth:`LoggedImpressions.to_impressions` writes the same log
as the plain impression table a real shop would have (:class:`~xsell.offpolicy.impressions.ImpressionLog`):
the action is the candidate's slot in the session's list, the shown item its id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from xsell.data.schema import ITEM, SESSION, USER
from xsell.offpolicy.impressions import (
    ACTION,
    CONTEXT_PREFIX,
    HISTORY,
    POSITION,
    PSCORE,
    REWARD,
    ImpressionLog,
)
from xsell.offpolicy.targets import sample_actions
from xsell.simulation.response import ResponseModel
from xsell.simulation.sessions import NO_ITEM, Sessions
from xsell.simulation.world import ShopWorld

REWARDS = ("conversion", "cross_sell_revenue", "order_value")


@dataclass(frozen=True)
class LoggedImpressions:
    """What a shop logged.

    Attributes:
        sessions: the ``S`` sessions. candidates: ``[S, A]`` world item indices (``NO_ITEM`` = show nothing).
        action: ``[S]`` column of ``candidates`` that was shown. propensity: ``[S]`` its logging probability.
        reward: ``[S]`` float64 observed reward (``reward_name``).
    """

    sessions: Sessions
    candidates: np.ndarray
    action: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    reward_name: str

    def __len__(self) -> int:
        return int(self.action.size)

    @property
    def pscore(self) -> np.ndarray:
        """``[S]`` the logging probability of the shown candidate (obp's name for ``propensity``)."""
        return self.propensity

    @property
    def position(self) -> np.ndarray:
        """``[S]`` zeros: one offer slot."""
        return np.zeros(len(self), dtype=np.int64)

    @property
    def n_actions(self) -> int:
        """Candidates per session ``A``."""
        return int(self.candidates.shape[1])

    def candidate_items(self, world: ShopWorld) -> np.ndarray:
        """``[S, A]`` object array: the item id of every candidate, ``None`` for "show nothing"."""
        ids = world.item_ids.astype(object)[np.maximum(self.candidates, 0)]
        ids[self.candidates == NO_ITEM] = None
        return ids

    def to_impressions(self, world: ShopWorld) -> ImpressionLog:
        """The log as an impression table: ``session_id`` (row number), ``user_id``, ``item_id`` (the shown
        item, null for "show nothing"), ``history`` (item ids, oldest first, the anchor last), ``action`` (the
        candidate's slot), ``pscore``, ``reward``, ``position`` 0 and ``context_<category>``: the anchor's
        category, one-hot (observable catalog data)."""
        rows = np.arange(len(self))
        history = self.sessions.history
        ids = world.item_ids.astype(object)[np.maximum(history, 0)]  # [S, L]
        anchor = np.eye(len(world.category_names))[world.category[self.sessions.anchor]]  # [S, C]
        frame = pl.DataFrame({
            SESSION: rows,
            USER: world.user_ids[self.sessions.user].astype(str),
            ITEM: self.candidate_items(world)[rows, self.action],
            HISTORY: [row[known].tolist() for row, known in zip(ids, history != NO_ITEM, strict=True)],
            ACTION: self.action.astype(np.int64),
            PSCORE: self.propensity.astype(np.float64),
            REWARD: self.reward.astype(np.float64),
            POSITION: np.zeros(len(self), dtype=np.int64),
            **{f"{CONTEXT_PREFIX}{name}": anchor[:, c] for c, name in enumerate(world.category_names)},
        }, schema_overrides={ITEM: pl.String, HISTORY: pl.List(pl.String)})
        return ImpressionLog(frame, n_actions=self.n_actions, source=f"simulated {self.reward_name} log")


def expected_rewards(world: ShopWorld, sessions: Sessions, candidates: np.ndarray, reward: str = "conversion",
                     response: ResponseModel | None = None) -> np.ndarray:
    """``[S, A]`` exact expected reward of showing candidate ``a`` alone (the simulator's truth)."""
    if reward not in REWARDS:
        raise ValueError(f"unknown reward {reward!r}; known: {list(REWARDS)}")
    response = ResponseModel() if response is None else response
    columns = []
    for a in range(candidates.shape[1]):  # a loop over the A candidates, vectorised over sessions
        offers = candidates[:, a: a + 1]
        if reward == "order_value":
            columns.append(response.expected_order_value(world, sessions, offers))
            continue
        p = response.probabilities(world, sessions, offers)
        bought = p.buy[:, 0] * (1.0 - p.abandon)  # [S]
        columns.append(bought if reward == "conversion" else bought * world.price[np.maximum(offers[:, 0], 0)])
    return np.stack(columns, axis=1)


def policy_value(world: ShopWorld, sessions: Sessions, candidates: np.ndarray, probabilities: np.ndarray,
                 reward: str = "conversion", response: ResponseModel | None = None) -> float:
    """True expected reward per session of a policy with ``[S, A]`` action ``probabilities``."""
    return float((probabilities * expected_rewards(world, sessions, candidates, reward, response)).sum(axis=1).mean())


def log_impressions(world: ShopWorld, sessions: Sessions, candidates: np.ndarray, probabilities: np.ndarray, *,
                    reward: str = "conversion", response: ResponseModel | None = None,
                    seed: int = 0) -> LoggedImpressions:
    """Run the logging policy: draw one candidate per session from ``probabilities`` ``[S, A]`` (seeded), show it
    in a single slot and record the customer's answer as ``reward``."""
    if reward not in REWARDS:
        raise ValueError(f"unknown reward {reward!r}; known: {list(REWARDS)}")
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.shape != probabilities.shape or candidates.shape[0] != len(sessions):
        raise ValueError(f"candidates {candidates.shape} and probabilities {probabilities.shape} must both be "
                         f"[{len(sessions)}, A]")
    if (probabilities < 0).any() or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("logging probabilities must be non-negative and sum to 1 in every row")
    response = ResponseModel() if response is None else response
    rng = np.random.default_rng(seed)
    action = sample_actions(probabilities, rng)
    rows = np.arange(len(sessions))
    outcomes = response.simulate(world, sessions, candidates[rows, action][:, None], seed=seed + 1)
    observed = {"conversion": outcomes.bought.any(axis=1), "cross_sell_revenue": outcomes.cross_sell_value,
                "order_value": outcomes.order_value}[reward]
    return LoggedImpressions(sessions, candidates, action, probabilities[rows, action],
                             np.asarray(observed, dtype=np.float64), reward)
