"""Off-policy estimators of a target policy's value from logged impressions: IPS, self-normalised IPS and
doubly robust, each with a percentile bootstrap interval over sessions.

With importance weights ``w_i = pi(a_i | x_i) / mu_i`` (target over logging probability of the logged action):

- IPS:   ``mean(w_i r_i)``; unbiased when ``mu > 0`` wherever ``pi > 0``, high variance when weights are large;
- SNIPS: ``sum(w_i r_i) / sum(w_i)``; slightly biased, much lower variance;
- DR:    ``mean(sum_a pi(a | x_i) r_hat(x_i, a) + w_i (r_i - r_hat(x_i, a_i)))``; unbiased like IPS, and the
  reward model ``r_hat`` absorbs most of the variance where it is good.
"""

from __future__ import annotations

import numpy as np

from xsell.offpolicy.logged import LoggedImpressions
from xsell.stats import Interval, bootstrap_ci, bootstrap_means


def importance_weights(logged: LoggedImpressions, target: np.ndarray) -> np.ndarray:
    """``[S]`` ``pi(a_i | x_i) / mu_i`` for ``[S, A]`` target probabilities over the logged candidates."""
    target = np.asarray(target, dtype=np.float64)
    if target.shape != logged.candidates.shape:
        raise ValueError(f"target probabilities {target.shape} must match the candidates {logged.candidates.shape}")
    if (logged.propensity <= 0).any():
        raise ValueError(f"{int((logged.propensity <= 0).sum())} logged actions have propensity <= 0")
    return target[np.arange(len(logged)), logged.action] / logged.propensity


def ips(logged: LoggedImpressions, target: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000,
        seed: int = 0) -> Interval:
    """Inverse propensity scoring estimate of the target's value per session."""
    terms = importance_weights(logged, target) * logged.reward
    return bootstrap_ci(terms, confidence=confidence, n_resamples=n_resamples, seed=seed)


def snips(logged: LoggedImpressions, target: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000,
          seed: int = 0) -> Interval:
    """Self-normalised IPS (the bootstrap resamples numerator and denominator together)."""
    weights = importance_weights(logged, target)
    if weights.sum() <= 0:
        raise ValueError("the target policy puts no probability on any logged action: SNIPS is undefined")
    columns = np.stack([weights * logged.reward, weights], axis=1)  # [S, 2]
    means = bootstrap_means(columns, n_resamples, seed)  # [R, 2]
    ratios = np.divide(means[:, 0], means[:, 1], out=np.full(len(means), np.nan), where=means[:, 1] > 0)
    alpha = 1.0 - confidence
    low, high = np.nanquantile(ratios, [alpha / 2, 1 - alpha / 2])
    return Interval(float(columns[:, 0].sum() / columns[:, 1].sum()), float(low), float(high))


def doubly_robust(logged: LoggedImpressions, target: np.ndarray, predicted: np.ndarray, *,
                  confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> Interval:
    """Doubly robust estimate with ``predicted`` ``[S, A]`` rewards of every candidate (a reward model's)."""
    weights = importance_weights(logged, target)
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.shape != logged.candidates.shape:
        raise ValueError(f"predicted rewards {predicted.shape} must match the candidates {logged.candidates.shape}")
    rows = np.arange(len(logged))
    direct = (np.asarray(target) * predicted).sum(axis=1)  # [S]
    terms = direct + weights * (logged.reward - predicted[rows, logged.action])
    return bootstrap_ci(terms, confidence=confidence, n_resamples=n_resamples, seed=seed)
