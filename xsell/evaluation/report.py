"""One call from a scorer and prepared data to a full evaluation report: metrics, uncertainty, segments.

Example::

    data = datamodule.prepared  # or xsell.data.prepared.prepare(interactions, ...)
    popularity = MostPopular().fit(data.log)
    report = evaluate(model_scorer, data, baseline=popularity.score)
    report.metrics["ndcg@10"], report.metrics["ndcg@10_ci_low"], report.metrics["lift_ndcg@10"]
    report.to_frame()          # one long polars DataFrame: metric, k, value, CI, baseline, lift
    print(report.to_markdown())
    report.plot("plots/", other_report)  # PNG charts, both reports on the same axes

Everything derives from the per-prediction rank table (:mod:`xsell.evaluation.table`), so full-ranking
numbers equal those of :func:`xsell.evaluation.protocol.evaluate_scorer` on the same targets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.datasets import evaluation_batches
from xsell.data.prepared import PARTS, PreparedData
from xsell.data.schema import EVENT, ITEM, SESSION, USER
from xsell.errors import SchemaError
from xsell.evaluation import beyond_accuracy as ba
from xsell.evaluation import segments as seg
from xsell.evaluation.comparison import compare_runs
from xsell.evaluation.protocol import RankingEvaluation, seen_items_label
from xsell.evaluation.table import LAST_ITEM, TOP_K, mean_metrics, metric_values, rank_table
from xsell.stats import bootstrap_ci

Scorer = Callable[[SequenceBatch], Tensor]

HEADLINE = ("ndcg", "recall", "mrr")  # metrics reported with confidence intervals
BEYOND_ACCURACY = ("coverage", "novelty", "diversity", "complement_rate", "association_lift", "category_lift")
_METRIC_KEY = re.compile(r"^(?P<metric>[a-z_]+)@(?P<k>\d+)$")


@dataclass
class EvaluationReport:
    """The result of :func:`evaluate`.

    Attributes:
        name: what was evaluated (labels plots and frames). part: ``test`` or ``validation``.
        ks: cut-offs. exclude_seen: whether seen items were dropped from the ranking.
        metrics: ``{"ndcg@10": ..., "ndcg@10_ci_low": ..., "ndcg@10_ci_high": ..., "lift_ndcg@10": ...,
            "coverage@10": ..., ...}``: plain floats, ready for any logger.
        table: the rank table, one row per target (with ``history_bucket`` and user columns added).
        segments: ``{"history_length": frame, "last_event": ..., "target_event": ..., <user column>: ...}``.
        comparison: paired comparison against the baseline (difference, CI, p-value), or None.
        baseline_metrics: the baseline's full-ranking metrics on the same targets ({} without a baseline).
    """

    name: str
    part: str
    ks: tuple[int, ...]
    exclude_seen: bool
    metrics: dict[str, float]
    table: pl.DataFrame
    segments: dict[str, pl.DataFrame] = field(default_factory=dict)
    comparison: pl.DataFrame | None = None
    baseline_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of predictions evaluated."""
        return self.table.height

    def to_frame(self) -> pl.DataFrame:
        """Long frame, one row per metric and cut-off: ``report, part, metric, k, value, ci_low, ci_high,
        baseline, lift`` (concatenate the frames of several reports to compare them)."""
        rows = []
        for key, value in self.metrics.items():
            match = _METRIC_KEY.match(key)
            if match is None or key.startswith("lift_"):
                continue
            rows.append({
                "report": self.name, "part": self.part, "metric": match["metric"], "k": int(match["k"]),
                "value": value,
                "ci_low": self.metrics.get(f"{key}_ci_low"), "ci_high": self.metrics.get(f"{key}_ci_high"),
                "baseline": self.baseline_metrics.get(key), "lift": self.metrics.get(f"lift_{key}"),
            })
        schema = {"report": pl.String, "part": pl.String, "metric": pl.String, "k": pl.Int64,
                  "value": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                  "baseline": pl.Float64, "lift": pl.Float64}
        return pl.DataFrame(rows, schema=schema)

    def to_markdown(self, digits: int = 4) -> str:
        """Markdown tables: metrics by cut-off (95% CI in brackets), the baseline comparison, the segments."""
        frame = self.to_frame()
        lines = [f"## {self.name}: {self.part}, {self.count} predictions, {seen_items_label(self.exclude_seen)}", ""]
        cell = pl.col("value").round(digits).cast(pl.String)
        with_ci = pl.format("{} [{}, {}]", cell, pl.col("ci_low").round(digits), pl.col("ci_high").round(digits))
        cells = frame.with_columns(pl.when(pl.col("ci_low").is_not_null()).then(with_ci).otherwise(cell).alias("cell"))
        wide = cells.pivot("k", index="metric", values="cell", sort_columns=True)
        lines += [_markdown(wide.rename({c: f"@{c}" for c in wide.columns if c != "metric"}), digits), ""]
        if frame.get_column("lift").is_not_null().any():
            lifts = frame.filter(pl.col("lift").is_not_null())
            wide = lifts.pivot("k", index="metric", values="lift", sort_columns=True)
            lines += ["### lift over the baseline", "",
                      _markdown(wide.rename({c: f"@{c}" for c in wide.columns if c != "metric"}), digits), ""]
        if self.comparison is not None:
            lines += ["### paired comparison with the baseline", "", _markdown(self.comparison, digits), ""]
        for key, table in self.segments.items():
            lines += [f"### by {key}", "", _markdown(table, digits), ""]
        return "\n".join(lines)

    def plot(self, path_dir: str | Path, *others: EvaluationReport) -> list[Path]:
        """Write PNG plots of this report (and ``others`` on the same charts); see :func:`plot_reports`."""
        return plot_reports([self, *others], path_dir)


# ------------------------------------------------------------------------------------------ evaluate


def target_batches(dataset, batch_size: int) -> tuple[Iterator[SequenceBatch], list[np.ndarray]]:
    """Batches of an ``EvaluationTargets`` data set ordered by history length, and each batch's row keys
    (``dataset.packed.row``: the target's index in the flat log, aligned with ``split.events``)."""
    order = dataset.lengths.argsort(descending=True, stable=True)
    chunks = [chunk.numpy() for chunk in order.split(batch_size)]
    return (dataset[chunk.tolist()] for chunk in chunks), [dataset.packed.row[chunk] for chunk in chunks]


def evaluate(
    score: Scorer,
    data: PreparedData,
    *,
    ks: Sequence[int] = (5, 10, 20),
    exclude_seen: bool = True,
    baseline: Scorer | None = None,
    part: str = "test",
    name: str = "model",
    segment_k: int | None = None,
    user_columns: Sequence[str] | None = None,
    context_columns: Sequence[str] | None = None,
    category_column: str = "category",
    n_resamples: int = 1000,
    seed: int = 0,
    sampled_negatives: int | None = None,
    sampled_proposal: str = "uniform",
    batch_size: int = 128,
) -> EvaluationReport:
    """Evaluate ``score`` on every target of one part of prepared data.

    Args:
        score: ``score(batch) -> [B, N]`` (batches are on the CPU; a GPU model's wrapper moves them).
        data: the prepared data (``datamodule.prepared``).
        ks: cut-offs; the rank table keeps the ``max(ks)`` best items per target.
        exclude_seen: drop each user's history from the ranking, the served lists and the sampled negatives
            (the default, as the exported scorer); False keeps seen items rankable.
        baseline: a second scorer (e.g. ``MostPopular().fit(data.log).score``) evaluated on the
            same targets: adds ``lift_<metric>`` (metric / baseline metric; inf when only the baseline is 0,
            NaN when both are) and a paired comparison.
        part: ``test`` or ``validation``.
        segment_k: cut-off of the segment tables (default 10 if in ``ks``, else ``max(ks)``).
        user_columns: user-table columns to segment by; default every string / categorical / boolean column
            with at most 50 values.
        context_columns: columns of the target event to segment by (device, time of day); default every
            such column of the event log other than the ids, the event type and the session.
        category_column: item-table column for diversity, complement rate and category lift (NaN when the
            data set has no such column).
        n_resamples / seed: bootstrap options (``seed`` also seeds the sampled negatives).
        sampled_negatives: also rank each target against this many negatives the user never interacted with
            (the SASRec paper's protocol), reported beside the full-ranking metrics as ``sampled_*`` (uniform)
            or ``sampled_pop_*`` (``sampled_proposal="popularity"``: drawn by training popularity).
        batch_size: targets scored at once (the metrics do not depend on it).
    """
    ks = tuple(sorted(set(ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive cut-offs, got {ks}")
    if part not in PARTS:
        raise ValueError(f"part must be one of {sorted(PARTS)}, got {part!r}")
    part = "validation" if part == "val" else part
    segment_k = segment_k or (10 if 10 in ks else ks[-1])

    table_score = score
    if sampled_negatives:  # the sampled ranks come from the rank table's own scores: one scoring pass
        sampled_ranking = RankingEvaluation(ks, exclude_seen=exclude_seen, sampled_negatives=sampled_negatives,
                                            sampled_proposal=sampled_proposal,
                                            item_counts=data.item_counts(), seed=seed)

        def table_score(batch: SequenceBatch) -> Tensor:
            scores = score(batch)
            sampled_ranking.update_sampled(scores, batch)
            return scores

    table = rank_table(table_score, evaluation_batches(data, part, batch_size), k=ks[-1], exclude_seen=exclude_seen)
    accuracy = mean_metrics(table, ks)
    metrics = dict(accuracy)
    if sampled_negatives:
        metrics.update(sampled_ranking.compute())  # sampled_* only: nothing else was added to it
    headline = [f"{metric}@{k}" for k in ks for metric in HEADLINE]
    if table.height:
        interval = bootstrap_ci(np.column_stack([metric_values(table, m) for m in headline]),
                                n_resamples=n_resamples, seed=seed)
        for i, metric in enumerate(headline):
            metrics[f"{metric}_ci_low"] = float(interval.low[i])
            metrics[f"{metric}_ci_high"] = float(interval.high[i])

    baseline_metrics: dict[str, float] = {}
    comparison = None
    if baseline is not None:
        baseline_table = rank_table(baseline, evaluation_batches(data, part, batch_size), k=ks[-1],
                                    exclude_seen=exclude_seen)
        baseline_metrics = mean_metrics(baseline_table, ks)
        metrics.update({f"lift_{key}": _ratio(value, baseline_metrics[key])
                        for key, value in accuracy.items()})
        if table.height:
            comparison = compare_runs(table, baseline_table, headline, n_resamples=n_resamples, seed=seed)

    metrics.update(_beyond_accuracy(table, data, ks, category_column))
    users = _user_table(data, user_columns)
    segments = _segments(table, data, users, segment_k, n_resamples, seed)
    events = data.split.events
    for column in _context_columns(events, context_columns):
        segments[column] = seg.by_context_column(table, events, column, k=segment_k, n_resamples=n_resamples,
                                                 seed=seed)
    if users is not None:
        table = table.join(users, on="user", how="left", maintain_order="left")
    table = table.with_columns(seg.history_bucket().alias("history_bucket"))
    return EvaluationReport(name=name, part=part, ks=ks, exclude_seen=exclude_seen, metrics=metrics, table=table,
                            segments=segments, comparison=comparison, baseline_metrics=baseline_metrics)


def _ratio(value: float, reference: float) -> float:
    if reference == 0.0:
        return float("nan") if value == 0.0 else float("inf")
    return value / reference


def _beyond_accuracy(table: pl.DataFrame, data: PreparedData, ks: tuple[int, ...], category_column: str
                     ) -> dict[str, float]:
    """coverage, novelty, diversity, complement rate and association lifts at every cut-off."""
    log = data.log
    counts = data.item_counts().numpy()
    last_item = table.get_column(LAST_ITEM).to_numpy()
    top_k = table.get_column(TOP_K)
    items = data.interactions.items
    categories = None
    if items is not None and category_column in items.columns:
        categories, _ = ba.item_category_codes(items, log.item_vocab, category_column)
    item_pairs = ba.transition_counts(log)
    category_pairs = ba.transition_counts(log, categories) if categories is not None else None
    nan = float("nan")
    out: dict[str, float] = {}
    for k in ks:
        empty = table.height == 0
        out[f"coverage@{k}"] = ba.catalog_coverage(top_k, k, len(log.item_vocab))
        out[f"novelty@{k}"] = nan if empty or counts.sum() == 0 else ba.novelty(top_k, k, counts)
        out[f"diversity@{k}"] = nan if categories is None else ba.intra_list_diversity(top_k, k, categories)
        out[f"complement_rate@{k}"] = (nan if categories is None
                                       else ba.complement_rate(top_k, k, last_item, categories))
        out[f"association_lift@{k}"] = ba.association_lift(top_k, k, last_item, item_pairs)
        out[f"category_lift@{k}"] = (nan if category_pairs is None
                                     else ba.association_lift(top_k, k, last_item, category_pairs, categories))
    return out


def _segmentable(frame: pl.DataFrame, exclude: Sequence[str]) -> list[str]:
    """String / categorical / boolean columns of ``frame`` with at most 50 values, except ``exclude``."""
    kinds = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)
    return [c for c, dtype in frame.schema.items()
            if c not in exclude and isinstance(dtype, kinds) and frame.get_column(c).n_unique() <= 50]


def _context_columns(events: pl.DataFrame | None, columns: Sequence[str] | None) -> list[str]:
    if events is None:
        return []
    if columns is not None:
        missing = [c for c in columns if c not in events.columns]
        if missing:
            raise SchemaError(f"context columns {missing} are not in the event log (columns: {events.columns})",
                              column=missing[0])
        return list(columns)
    return _segmentable(events, (USER, ITEM, EVENT, SESSION))


def _user_table(data: PreparedData, columns: Sequence[str] | None) -> pl.DataFrame | None:
    """The data set's user table keyed by user index, restricted to the segmenting columns (None if none)."""
    users = data.interactions.users
    if users is None or USER not in users.columns:
        return None
    if columns is None:
        columns = _segmentable(users, (USER,))
    if not columns:
        return None
    return seg.users_by_index(users.select(USER, *columns), data.log.user_vocab)


def _segments(table: pl.DataFrame, data: PreparedData, users: pl.DataFrame | None, k: int, n_resamples: int,
              seed: int) -> dict[str, pl.DataFrame]:
    options = dict(k=k, n_resamples=n_resamples, seed=seed)
    event_types = data.log.event_types
    out = {
        "history_length": seg.by_history_length(table, **options),
        "last_event": seg.by_last_event(table, event_types, **options),
        "target_event": seg.by_target_event(table, event_types, **options),
    }
    for column in [] if users is None else [c for c in users.columns if c != "user"]:
        out[column] = seg.by_user_column(table, users, column, **options)
    return out


# ---------------------------------------------------------------------------------------- rendering


def _markdown(frame: pl.DataFrame, digits: int = 4) -> str:
    """A small frame as a markdown table (floats rounded to ``digits``)."""
    def text(value) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(text(v) for v in row) + " |" for row in frame.iter_rows()]  # a summary: few rows
    return "\n".join([header, rule, *body])


def plot_reports(
    reports: Sequence[EvaluationReport],
    path_dir: str | Path,
    *,
    metrics: Sequence[str] = ("ndcg", "recall", "mrr", "coverage", "novelty", "complement_rate"),
) -> list[Path]:
    """Write ``metrics_at_k.png`` (each metric against K, one line per report, 95% CI bars where known)
    and ``segments_<name>.png`` (per-segment bars of the segment metric, one bar per report, with CIs).

    Uses matplotlib's object API (no pyplot state, no backend switch). Returns the written paths.
    """
    from matplotlib.figure import Figure  # imported here: only plotting pays for it

    path_dir = Path(path_dir)
    path_dir.mkdir(parents=True, exist_ok=True)
    frames = pl.concat([report.to_frame() for report in reports])
    written = []

    columns = min(3, len(metrics))
    grid = math.ceil(len(metrics) / columns)
    figure = Figure(figsize=(4.5 * columns, 3.5 * grid), layout="constrained")
    axes = figure.subplots(grid, columns, squeeze=False).ravel()
    for axis, metric in zip(axes, metrics, strict=False):
        for report in reports:
            curve = frames.filter((pl.col("report") == report.name) & (pl.col("metric") == metric)).sort("k")
            if curve.height == 0:
                continue
            ks, values = curve.get_column("k").to_numpy(), curve.get_column("value").to_numpy()
            low, high = (curve.get_column(c).fill_null(np.nan).to_numpy() for c in ("ci_low", "ci_high"))
            errors = np.nan_to_num(np.vstack([values - low, high - values]))
            axis.errorbar(ks, values, yerr=errors, marker="o", capsize=3, label=report.name)
        axis.set_title(f"{metric}@K")
        axis.set_xlabel("K")
        axis.grid(alpha=0.3)
    for axis in axes[len(metrics):]:
        axis.set_visible(False)
    axes[0].legend()
    written.append(path_dir / "metrics_at_k.png")
    figure.savefig(written[-1], dpi=120)

    for key in reports[0].segments:
        tables = [(report.name, report.segments[key]) for report in reports if key in report.segments]
        first = tables[0][1]
        column = first.columns[0]
        metric = next((c for c in first.columns if c.startswith(f"{HEADLINE[0]}@") and "_" not in c), None)
        if metric is None:
            continue
        labels = first.get_column(column).cast(pl.String).fill_null("(missing)").to_list()
        figure = Figure(figsize=(max(5.0, 0.9 * len(labels) * len(tables)), 3.8), layout="constrained")
        axis = figure.subplots()
        width = 0.8 / len(tables)
        for i, (label, table) in enumerate(tables):
            aligned = pl.DataFrame({column: labels}).join(
                table.with_columns(pl.col(column).cast(pl.String).fill_null("(missing)")),
                on=column, how="left", maintain_order="left")
            values = aligned.get_column(metric).fill_null(np.nan).to_numpy()
            low = aligned.get_column(f"{metric}_low").fill_null(np.nan).to_numpy()
            high = aligned.get_column(f"{metric}_high").fill_null(np.nan).to_numpy()
            positions = np.arange(len(labels)) + (i - (len(tables) - 1) / 2) * width
            axis.bar(positions, values, width, yerr=np.nan_to_num(np.vstack([values - low, high - values])),
                     capsize=3, label=label)
        axis.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right")
        axis.set_ylabel(metric)
        axis.set_title(f"{metric} by {key}")
        axis.legend()
        written.append(path_dir / f"segments_{key}.png")
        figure.savefig(written[-1], dpi=120)
    return written


def comparison_table(
    reports: Sequence[EvaluationReport],
    metrics: Sequence[str] = ("ndcg", "recall", "mrr", "coverage", "complement_rate"),
    digits: int = 4,
) -> str:
    """Markdown table, one row per report and one column per ``metric@k`` (k in the first report's ks)."""
    keys = [f"{metric}@{k}" for k in reports[0].ks for metric in metrics]
    frame = pl.DataFrame([{"report": r.name, **{key: r.metrics.get(key) for key in keys}} for r in reports],
                         schema={"report": pl.String, **{key: pl.Float64 for key in keys}})
    return _markdown(frame, digits)


def report_frame(reports: Sequence[EvaluationReport]) -> pl.DataFrame:
    """The long frames of several reports, concatenated (one table to compare runs in a notebook)."""
    return pl.concat([report.to_frame() for report in reports])

