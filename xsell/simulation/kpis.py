"""Business KPIs of simulated sessions, each with a bootstrap confidence interval.

All KPIs are means or ratios of means of per-session columns, so one bootstrap over sessions
(:func:`xsell.stats.bootstrap_means`, every column resampled with the same rows) gives all
intervals at once, ratios included (ratio of the resampled means, not a mean of ratios):

- ``cross_sell_conversion``: share of sessions with at least one offer bought;
- ``click_through``: clicks per offer shown;
- ``average_order_value``: order value per completed order (abandoned carts excluded);
- ``revenue_per_session``: order value per session (0 for an abandoned cart);
- ``cart_abandonment``: share of sessions whose cart was abandoned;
- ``survey_satisfaction``: share of survey answers saying the offers were helpful;
- ``incremental_revenue``: revenue per session minus the control's on the same sessions (paired), when a
  control (``NoRecommendation`` simulated with the same sessions and seed) is given.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from xsell.simulation.response import Outcomes
from xsell.stats import bootstrap_means

# KPI name -> (numerator column, denominator column or None for a plain mean)
_KPIS: dict[str, tuple[str, str | None]] = {
    "cross_sell_conversion": ("converted", None),
    "click_through": ("clicks", "impressions"),
    "average_order_value": ("order_value", "orders"),
    "revenue_per_session": ("order_value", None),
    "cart_abandonment": ("abandoned", None),
    "survey_satisfaction": ("helpful", "surveyed"),
    "incremental_revenue": ("incremental", None),
}


def session_columns(outcomes: Outcomes, control: Outcomes | None = None) -> dict[str, np.ndarray]:
    """Per-session ``[S]`` float64 columns the KPIs are built from (``incremental`` only with a control)."""
    columns = {
        "converted": outcomes.bought.any(axis=1), "clicks": outcomes.clicked.sum(axis=1),
        "impressions": (outcomes.offers >= 0).sum(axis=1), "order_value": outcomes.order_value,
        "orders": ~outcomes.abandoned, "abandoned": outcomes.abandoned, "helpful": outcomes.helpful,
        "surveyed": outcomes.surveyed,
    }
    if control is not None:
        if len(control) != len(outcomes):
            raise ValueError(f"the control must be simulated on the same sessions: {len(control)} sessions, "
                             f"the policy {len(outcomes)}")
        columns["incremental"] = outcomes.order_value - control.order_value
    return {name: np.asarray(values, dtype=np.float64) for name, values in columns.items()}


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(numerator), np.nan), where=denominator > 0)


def session_kpis(outcomes: Outcomes, *, control: Outcomes | None = None, confidence: float = 0.95,
                 n_resamples: int = 1000, seed: int = 0) -> pl.DataFrame:
    """One row per KPI: ``kpi``, ``estimate``, ``low``, ``high`` (percentile bootstrap over sessions), ``sessions``.

    Args:
        outcomes: a policy's simulated sessions.
        control: the no-recommendation control on the same sessions (adds ``incremental_revenue``).
        confidence / n_resamples / seed: the bootstrap's.
    A ratio with no denominator (no offer shown, no survey answered) is NaN.
    """
    if len(outcomes) == 0:
        raise ValueError("no sessions to compute KPIs from")
    columns = session_columns(outcomes, control)
    names = list(columns)
    matrix = np.stack([columns[n] for n in names], axis=1)  # [S, m]
    means = matrix.mean(axis=0)  # [m]
    resampled = bootstrap_means(matrix, n_resamples, seed)  # [R, m]
    alpha = 1.0 - confidence
    rows = []
    for kpi, (numerator, denominator) in _KPIS.items():
        if numerator not in columns:
            continue
        top, top_resampled = means[names.index(numerator)], resampled[:, names.index(numerator)]
        if denominator is None:
            estimate, draws = float(top), top_resampled
        else:
            bottom = names.index(denominator)
            estimate = float(_ratio(np.array(top), np.array(means[bottom])))
            draws = _ratio(top_resampled, resampled[:, bottom])
        finite = draws[np.isfinite(draws)]
        low, high = (np.quantile(finite, [alpha / 2, 1 - alpha / 2]) if finite.size else (np.nan, np.nan))
        rows.append({"kpi": kpi, "estimate": estimate, "low": float(low), "high": float(high),
                     "sessions": len(outcomes)})
    return pl.DataFrame(rows)
