"""Contextual bandits for cross-sell offers: LinUCB and linear Thompson sampling over item vectors (a model's
embeddings or ground-truth-free category features), choosing which offer to show and whether to show one,
played against the simulator next to the model's greedy ranking, or learning offline from an impression log."""

from xsell.bandits.features import category_transition_vectors, model_vectors, offer_features
from xsell.bandits.linear import RidgeStatistics
from xsell.bandits.linucb import LinUCB
from xsell.bandits.offline import context_action_features, learn_from_log, replay
from xsell.bandits.online import Agent, GreedyRanking, run_bandit
from xsell.bandits.thompson import LinearThompson

__all__ = [
    "Agent", "GreedyRanking", "LinUCB", "LinearThompson", "RidgeStatistics", "category_transition_vectors",
    "context_action_features", "learn_from_log", "model_vectors", "offer_features", "replay", "run_bandit",
]
