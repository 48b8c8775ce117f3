"""Generic statistics on arrays: bootstrap confidence intervals of means and the paired sign-flip test.

Used by offline evaluation (rank tables), A/B tests, the simulator's KPIs and off-policy estimates. Means of
per-row values are resampled with a seeded numpy ``Generator``;
resampling is vectorised (a ``[resamples, rows]`` count matrix times the values, in chunks of bounded
size), so 1000 resamples of 100k rows take a fraction of a second. The paired test is a sign-flip
permutation test: under the null hypothesis that two runs are exchangeable on every target, each paired
difference is as likely to have either sign. It needs no scipy (which is not a dependency of xsell).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

_CHUNK_ELEMENTS = 1 << 22  # resample x row entries held at once


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval (floats, or ``[m]`` arrays for ``m`` columns)."""

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray


def _chunks(total: int, n: int) -> list[int]:
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    return [min(step, total - start) for start in range(0, total, step)]


def bootstrap_means(values: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """``[n_resamples, m]`` means of ``values`` (``[n]`` or ``[n, m]``) over rows resampled with replacement.

    Every column is resampled with the same row draws, so columns stay paired (e.g. several metrics of
    the same predictions). Results depend only on ``values``, ``n_resamples`` and ``seed``.
    """
    matrix = np.asarray(values, dtype=np.float64)
    matrix = matrix.reshape(matrix.shape[0], -1)
    n = matrix.shape[0]
    if n == 0:
        raise ValueError("cannot bootstrap an empty sample")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not np.isfinite(matrix).all():
        raise ValueError("values must be finite (drop undefined rows first)")
    rng = np.random.default_rng(seed)
    means = []
    for size in _chunks(n_resamples, n):
        draws = rng.integers(0, n, size=(size, n))  # [c, n] row indices
        counts = np.bincount((draws + n * np.arange(size)[:, None]).ravel(), minlength=size * n)
        means.append(counts.reshape(size, n) @ matrix / n)  # [c, m]
    return np.concatenate(means)


def bootstrap_ci(
    values: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> Interval:
    """Percentile bootstrap confidence interval of the mean of ``values``.

    Args:
        values: ``[n]`` per-row values, or ``[n, m]`` for ``m`` metrics at once (same resampled rows).
        confidence: coverage of the interval (0.95: the 2.5% and 97.5% percentiles of resampled means).
        n_resamples: bootstrap resamples. seed: seeds ``np.random.default_rng``.
    Returns:
        ``Interval`` of floats for ``[n]`` values, of ``[m]`` arrays for ``[n, m]``; NaN for no rows.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    array = np.asarray(values, dtype=np.float64)
    if array.shape[0] == 0:
        empty = np.full(array.shape[1:], np.nan)
        return Interval(*(float("nan") if array.ndim == 1 else empty for _ in range(3)))
    means = bootstrap_means(array, n_resamples, seed)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2], axis=0)
    estimate = array.reshape(array.shape[0], -1).mean(0)
    if array.ndim == 1:
        return Interval(float(estimate[0]), float(low[0]), float(high[0]))
    return Interval(estimate, low, high)


def sign_flip_pvalue(differences: np.ndarray, *, n_resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value of a paired sign-flip permutation test that the mean difference is zero.

    The observed ``|mean(d)|`` is compared with ``|mean(s * d)|`` for random signs ``s``;
    ``p = (1 + #{resampled >= observed}) / (1 + n_resamples)`` (never 0, so it stays a valid p-value).
    Identical runs (all differences 0) give ``p = 1``.
    """
    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    if d.size == 0:
        return float("nan")
    if not np.isfinite(d).all():
        raise ValueError("differences must be finite")
    observed = abs(d.mean())
    tolerance = 1e-12 * max(np.abs(d).mean(), 1e-300)  # sums in another order must still count as equal
    rng = np.random.default_rng(seed)
    extreme = 0
    for size in _chunks(n_resamples, d.size):
        signs = rng.integers(0, 2, size=(size, d.size), dtype=np.int8).astype(np.float64) * 2 - 1
        extreme += int((np.abs(signs @ d / d.size) >= observed - tolerance).sum())
    return (1 + extreme) / (1 + n_resamples)


@dataclass(frozen=True)
class PairedComparison:
    """Run ``a`` against run ``b`` on the same targets: ``difference = mean_a - mean_b``, its bootstrap
    CI (``low``, ``high``) and the two-sided sign-flip ``p_value``."""

    metric: str
    count: int
    mean_a: float
    mean_b: float
    difference: float
    low: float
    high: float
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)


def compare_paired(values_a: np.ndarray, values_b: np.ndarray, metric: str, *, confidence: float = 0.95,
                   n_resamples: int = 1000, n_permutations: int = 10_000, seed: int = 0) -> PairedComparison:
    """Compare ``[n]`` paired values of two runs (same rows, same order): bootstrap CI of the mean difference
    (``confidence``, ``n_resamples``) and the sign-flip p-value (``n_permutations``); ``seed`` seeds both."""
    values_a = np.asarray(values_a, dtype=np.float64)
    values_b = np.asarray(values_b, dtype=np.float64)
    if values_a.shape != values_b.shape:
        raise ValueError(f"paired values must have the same shape, got {values_a.shape} and {values_b.shape}")
    differences = values_a - values_b
    interval = bootstrap_ci(differences, confidence=confidence, n_resamples=n_resamples, seed=seed)
    nan = float("nan")
    return PairedComparison(
        metric=metric,
        count=int(differences.size),
        mean_a=float(values_a.mean()) if values_a.size else nan,
        mean_b=float(values_b.mean()) if values_b.size else nan,
        difference=interval.estimate,
        low=interval.low,
        high=interval.high,
        p_value=sign_flip_pvalue(differences, n_resamples=n_permutations, seed=seed),
    )
