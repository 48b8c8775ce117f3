"""Candidate actions for one offer slot: a policy's top list plus, optionally, "show nothing".

Off-policy evaluation and bandits choose among these per session; a candidate's rank in the policy's list is
the only score they need from the policy, so any :class:`~xsell.simulation.policies.Policy` (an exported
scorer included) provides candidates.
"""

from __future__ import annotations

import numpy as np

from xsell.simulation.policies import Policy
from xsell.simulation.sessions import NO_ITEM, Sessions


def top_candidates(policy: Policy, sessions: Sessions, n: int, *, show_nothing: bool = True) -> np.ndarray:
    """``[S, n (+1)]`` world item indices: the policy's top ``n`` (best first; ``NO_ITEM`` where it has fewer),
    then a ``NO_ITEM`` column ("show nothing") when ``show_nothing``."""
    offers = policy.recommend(sessions, n)  # [S, n]
    if show_nothing:
        offers = np.concatenate([offers, np.full((len(sessions), 1), NO_ITEM, dtype=np.int64)], axis=1)
    return offers


def rank_scores(candidates: np.ndarray, *, nothing_score: float = -np.inf, decay: float = 1.0) -> np.ndarray:
    """``[S, A]`` scores ``-decay * log(1 + rank)`` of ranked candidates (0 for the best); "show nothing"
    slots get ``nothing_score`` (the trailing column of :func:`top_candidates` and any empty slot)."""
    ranks = np.broadcast_to(np.arange(candidates.shape[1], dtype=np.float64), candidates.shape)
    return np.where(candidates == NO_ITEM, nothing_score, -decay * np.log1p(ranks))
