"""Off-policy evaluation: impression logs with propensities (a shop's table, or the simulator's), target
policies from any xsell scorer, and IPS, self-normalised IPS and doubly robust estimates of a new policy's
value, checked against the simulator's true value."""

from xsell.offpolicy.estimators import (
    BanditFeedback,
    doubly_robust,
    importance_weights,
    ips,
    mean_reward_by_action,
    snips,
)
from xsell.offpolicy.impressions import ImpressionLog, read_impressions
from xsell.offpolicy.logged import REWARDS, LoggedImpressions, expected_rewards, log_impressions, policy_value
from xsell.offpolicy.reward_model import CategoryPairRewardModel
from xsell.offpolicy.targets import (
    epsilon_greedy_probabilities,
    recommendation_action_scores,
    sample_actions,
    scorer_action_scores,
    softmax_policy,
    softmax_probabilities,
    top_k_policy,
)

__all__ = [
    "REWARDS", "BanditFeedback", "CategoryPairRewardModel", "ImpressionLog", "LoggedImpressions", "doubly_robust",
    "epsilon_greedy_probabilities", "expected_rewards", "importance_weights", "ips", "log_impressions",
    "mean_reward_by_action", "policy_value", "read_impressions", "recommendation_action_scores", "sample_actions",
    "scorer_action_scores", "snips", "softmax_policy", "softmax_probabilities", "top_k_policy",
]
