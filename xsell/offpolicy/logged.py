"""Logged impressions: one offer per session chosen by a stochastic logging policy, with its propensity.

The setting of off-policy evaluation: each session has ``A`` candidate actions (world item indices from a
model's top list; ``NO_ITEM`` = show nothing), a logging policy picks one with known probability, the customer
answers, and the log keeps (session, action, propensity, reward). Target policies are given as ``[S, A]``
action probabilities over the same candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xsell.simulation.response import ResponseModel
from xsell.simulation.sessions import Sessions
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


def softmax_probabilities(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``[S, A]`` softmax of ``scores / temperature`` along actions (``-inf`` scores get probability 0)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = np.asarray(scores, dtype=np.float64) / temperature
    logits = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def epsilon_greedy_probabilities(scores: np.ndarray, epsilon: float) -> np.ndarray:
    """``[S, A]``: the best-scored action with probability ``1 - epsilon``, plus ``epsilon`` spread uniformly over
    all ``A`` actions (``epsilon = 0`` is the deterministic greedy policy)."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    scores = np.asarray(scores)
    probabilities = np.full(scores.shape, epsilon / scores.shape[1])
    probabilities[np.arange(scores.shape[0]), scores.argmax(axis=1)] += 1.0 - epsilon
    return probabilities


def sample_actions(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``[S]`` one action per row drawn from ``[S, A]`` probabilities (vectorised inverse CDF)."""
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(probabilities.shape[0])[:, None] * cumulative[:, -1:]
    return np.minimum((draws >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


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
