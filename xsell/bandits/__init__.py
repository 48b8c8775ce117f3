"""Contextual bandits for cross-sell offers: LinUCB and linear Thompson sampling over item vectors (a model's
embeddings or ground-truth-free category features), choosing which offer to show and whether to show one,
played against the simulator next to the model's greedy ranking."""

from xsell.bandits.features import category_transition_vectors, model_vectors, offer_features
from xsell.bandits.linear import RidgeStatistics
from xsell.bandits.linucb import LinUCB
from xsell.bandits.online import Agent, GreedyRanking, run_bandit
from xsell.bandits.thompson import LinearThompson

__all__ = [
    "Agent", "GreedyRanking", "LinUCB", "LinearThompson", "RidgeStatistics", "category_transition_vectors",
    "model_vectors", "offer_features", "run_bandit",
]
