"""Off-policy evaluation: logged impressions with propensities, and IPS, self-normalised IPS and doubly robust
estimates of a new policy's value, checked against the simulator's true value."""

from xsell.offpolicy.estimators import doubly_robust, importance_weights, ips, snips
from xsell.offpolicy.logged import (
    REWARDS,
    LoggedImpressions,
    epsilon_greedy_probabilities,
    expected_rewards,
    log_impressions,
    policy_value,
    sample_actions,
    softmax_probabilities,
)
from xsell.offpolicy.reward_model import CategoryPairRewardModel

__all__ = [
    "REWARDS", "CategoryPairRewardModel", "LoggedImpressions", "doubly_robust", "epsilon_greedy_probabilities",
    "expected_rewards", "importance_weights", "ips", "log_impressions", "policy_value", "sample_actions",
    "snips", "softmax_probabilities",
]
