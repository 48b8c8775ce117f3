"""Off-policy estimators of a target policy's value from logged impressions: IPS, self-normalised IPS and
doubly robust, each with a percentile bootstrap interval over logged rounds.

With importance weights ``w_i = pi(a_i | x_i, p_i) / mu_i`` (target over logging probability of the logged
action ``a_i`` in its position ``p_i``):

- IPS:   ``mean(w_i r_i)``; unbiased when ``mu > 0`` wherever ``pi > 0``, high variance when weights are large;
- SNIPS: ``sum(w_i r_i) / sum(w_i)``; slightly biased, much lower variance;
- DR:    ``mean(sum_a pi(a | x_i, p_i) r_hat(x_i, a, p_i) + w_i (r_i - r_hat(x_i, a_i, p_i)))``; unbiased like
  IPS, and the reward model ``r_hat`` absorbs most of the variance where it is good.

These are obp's ``InverseProbabilityWeighting``, ``SelfNormalizedInverseProbabilityWeighting`` and
``DoublyRobust`` without clipping (``benchmarks/offpolicy_obp.py`` checks equality). Target probabilities
are ``[n, n_actions]`` (one slot) or obp's ``action_dist`` ``[n, n_actions, positions]``
(:mod:`xsell.offpolicy.targets`); the log is an :class:`~xsell.offpolicy.impressions.ImpressionLog` or the
simulator's :class:`~xsell.offpolicy.logged.LoggedImpressions` (actions = its candidates).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from xsell.stats import Interval, bootstrap_ci, bootstrap_means


class BanditFeedback(Protocol):
    """What the estimators read from a log: ``[n]`` arrays of the logged rounds and the action count."""

    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    position: np.ndarray
    n_actions: int

    def __len__(self) -> int: ...


def _per_position(log: BanditFeedback, array: np.ndarray, name: str) -> np.ndarray:
    """``array`` as ``[n, n_actions, positions]`` covering every logged position."""
    array = np.asarray(array, dtype=np.float64)
    array = array[:, :, None] if array.ndim == 2 else array
    shape = (len(log), log.n_actions)
    if array.ndim != 3 or array.shape[:2] != shape:
        raise ValueError(f"{name} {array.shape} must match the candidates: [rounds, actions] = {list(shape)} "
                         "(or [rounds, actions, positions])")
    if int(log.position.max(initial=0)) >= array.shape[2]:
        raise ValueError(f"{name} covers {array.shape[2]} positions; the log has position {int(log.position.max())}")
    return array


def importance_weights(log: BanditFeedback, target: np.ndarray) -> np.ndarray:
    """``[n]`` ``pi(a_i | x_i, p_i) / mu_i`` for target probabilities ``[n, A]`` or ``[n, A, positions]``."""
    target = _per_position(log, target, "target probabilities")
    pscore = np.asarray(log.pscore, dtype=np.float64)
    if (pscore <= 0).any():
        raise ValueError(f"{int((pscore <= 0).sum())} logged actions have propensity <= 0")
    return target[np.arange(len(log)), log.action, log.position] / pscore


def ips(log: BanditFeedback, target: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000,
        seed: int = 0) -> Interval:
    """Inverse propensity scoring estimate of the target's value per logged round."""
    terms = importance_weights(log, target) * log.reward
    return bootstrap_ci(terms, confidence=confidence, n_resamples=n_resamples, seed=seed)


def snips(log: BanditFeedback, target: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000,
          seed: int = 0) -> Interval:
    """Self-normalised IPS (the bootstrap resamples numerator and denominator together)."""
    weights = importance_weights(log, target)
    if weights.sum() <= 0:
        raise ValueError("the target policy puts no probability on any logged action: SNIPS is undefined")
    columns = np.stack([weights * log.reward, weights], axis=1)  # [n, 2]
    means = bootstrap_means(columns, n_resamples, seed)  # [R, 2]
    ratios = np.divide(means[:, 0], means[:, 1], out=np.full(len(means), np.nan), where=means[:, 1] > 0)
    alpha = 1.0 - confidence
    low, high = np.nanquantile(ratios, [alpha / 2, 1 - alpha / 2])
    return Interval(float(columns[:, 0].sum() / columns[:, 1].sum()), float(low), float(high))


def doubly_robust(log: BanditFeedback, target: np.ndarray, predicted: np.ndarray, *, confidence: float = 0.95,
                  n_resamples: int = 1000, seed: int = 0) -> Interval:
    """Doubly robust estimate with ``predicted`` rewards of every action (a reward model's): shaped like
    ``target`` or broadcastable to it (``[n_actions]`` for one prediction per action)."""
    weights = importance_weights(log, target)
    target = _per_position(log, target, "target probabilities")
    predicted = np.asarray(predicted, dtype=np.float64)
    predicted = {1: predicted[None, :, None], 2: predicted[..., None]}.get(predicted.ndim, predicted)
    try:
        predicted = np.broadcast_to(predicted, target.shape)  # [n, A, P]
    except ValueError:
        raise ValueError(f"predicted rewards {predicted.shape} must match the candidates: target probabilities "
                         f"are {target.shape}") from None
    rows = np.arange(len(log))
    direct = (target * predicted).sum(axis=1)[rows, log.position]  # [n]
    terms = direct + weights * (log.reward - predicted[rows, log.action, log.position])
    return bootstrap_ci(terms, confidence=confidence, n_resamples=n_resamples, seed=seed)


def mean_reward_by_action(log: BanditFeedback, prior_strength: float = 5.0) -> np.ndarray:
    """``[n_actions]`` a context-free reward model for :func:`doubly_robust`: each action's mean logged reward,
    shrunk towards the overall mean with ``prior_strength`` pseudo-counts (never-logged actions get it)."""
    total = np.bincount(log.action, weights=log.reward, minlength=log.n_actions)
    count = np.bincount(log.action, minlength=log.n_actions)
    overall = float(np.mean(log.reward))
    return (total + prior_strength * overall) / (count + prior_strength)
