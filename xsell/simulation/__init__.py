"""An interactive shop simulator: sessions at the add-to-cart moment, policies that choose offers, customers who
answer them from the synthetic shop's ground truth, and business KPIs with confidence intervals."""

from xsell.simulation.candidates import rank_scores, top_candidates
from xsell.simulation.kpis import session_kpis
from xsell.simulation.policies import (
    AffinityOracle,
    NoRecommendation,
    Policy,
    RandomPolicy,
    ScoreFunctionPolicy,
    ScoringPolicy,
    StaticScorePolicy,
    TopKScorerPolicy,
)
from xsell.simulation.response import Outcomes, Probabilities, ResponseModel
from xsell.simulation.sessions import NO_ITEM, Sessions, sample_sessions
from xsell.simulation.simulator import simulate
from xsell.simulation.world import ShopWorld

__all__ = [
    "NO_ITEM", "AffinityOracle", "NoRecommendation", "Outcomes", "Policy", "Probabilities", "RandomPolicy",
    "ResponseModel", "ScoreFunctionPolicy", "ScoringPolicy", "Sessions", "ShopWorld", "StaticScorePolicy",
    "TopKScorerPolicy", "rank_scores", "sample_sessions", "session_kpis", "simulate", "top_candidates",
]
