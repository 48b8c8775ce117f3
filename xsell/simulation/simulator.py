"""One call from a policy to session outcomes: the policy chooses offers, the response model answers."""

from __future__ import annotations

from xsell.simulation.policies import Policy
from xsell.simulation.response import Outcomes, ResponseModel
from xsell.simulation.sessions import Sessions
from xsell.simulation.world import ShopWorld


def simulate(world: ShopWorld, sessions: Sessions, policy: Policy, *, k: int = 3,
             response: ResponseModel | None = None, seed: int = 0) -> Outcomes:
    """Show each session ``policy``'s top ``k`` offers and draw the customers' answers.

    Policies simulated with the same ``sessions``, ``k`` and ``seed`` share their random numbers, so their
    per-session differences are paired (see :mod:`xsell.simulation.response`).

    Example::

        world = ShopWorld.from_shop(shop)
        sessions = sample_sessions(shop, world, 100_000, seed=1)
        outcomes = simulate(world, sessions, ScoreFunctionPolicy(model.score, dm.item_vocab, world), k=3)
        session_kpis(outcomes, control=simulate(world, sessions, NoRecommendation(), k=3))
    """
    response = ResponseModel() if response is None else response
    return response.simulate(world, sessions, policy.recommend(sessions, k), seed=seed)
