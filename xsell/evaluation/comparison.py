"""Paired comparison of two runs' rank tables: align the runs on their targets, then compare per-row metric
values with :func:`xsell.stats.compare_paired` (bootstrap CI of the mean difference, sign-flip p-value)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from xsell.evaluation.table import ROW, TARGET, metric_values
from xsell.stats import PairedComparison, compare_paired


def paired_values(a: pl.DataFrame, b: pl.DataFrame, metric: str, *, on: str = ROW) -> tuple[np.ndarray, np.ndarray]:
    """``(values_a, values_b)`` of ``metric`` aligned on ``on``; both tables must hold the same targets.

    Raises ``ValueError`` when the key sets differ or, where both tables have a ``target`` column, when a
    key points to different targets -- a comparison of different predictions would be meaningless.
    """
    for name, table in (("a", a), ("b", b)):
        if table.get_column(on).n_unique() != table.height:
            raise ValueError(f"table {name} has duplicate {on!r} keys")
    left = a.select(on, *([TARGET] if TARGET in a.columns else []),
                    pl.Series("_a", metric_values(a, metric)))
    right = b.select(on, *([TARGET] if TARGET in b.columns else []),
                     pl.Series("_b", metric_values(b, metric)))
    joined = left.join(right, on=on, how="inner", suffix="_b")
    if joined.height != a.height or joined.height != b.height:
        raise ValueError(f"the runs do not hold the same targets: {a.height} and {b.height} rows, "
                         f"{joined.height} shared {on!r} keys")
    if TARGET in a.columns and TARGET in b.columns:
        differing = int((joined.get_column(TARGET) != joined.get_column(f"{TARGET}_b")).sum())
        if differing:
            raise ValueError(f"{differing} rows have the same {on!r} but different targets in the two runs")
    joined = joined.sort(on)
    return joined.get_column("_a").to_numpy(), joined.get_column("_b").to_numpy()


def paired_comparison(
    a: pl.DataFrame,
    b: pl.DataFrame,
    metric: str,
    *,
    on: str = ROW,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> PairedComparison:
    """Compare two runs on the same targets (rank tables, or frames with a ``metric`` column).

    Args:
        a, b: per-row tables joined on ``on`` (``row``); ``metric`` is a column or ``"ndcg@10"``-style name
            computed from ``rank``.
        confidence / n_resamples: bootstrap CI of the mean paired difference.
        n_permutations: sign flips of the permutation test. seed: seeds both.
    """
    values_a, values_b = paired_values(a, b, metric, on=on)
    return compare_paired(values_a, values_b, metric, confidence=confidence, n_resamples=n_resamples,
                          n_permutations=n_permutations, seed=seed)


def compare_runs(
    a: pl.DataFrame, b: pl.DataFrame, metrics: Sequence[str] = ("ndcg@10", "recall@10", "mrr@10"), **options
) -> pl.DataFrame:
    """One :class:`PairedComparison` per metric as a polars DataFrame (options as :func:`paired_comparison`)."""
    return pl.DataFrame([paired_comparison(a, b, metric, **options).to_dict() for metric in metrics])
