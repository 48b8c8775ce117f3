"""Trigger-point evaluation: recommend at a moment of the event log, hit if a recommended item is bought soon.

A trigger is an event of a chosen type (after an add-to-cart, at a purchase) outside the training part
of the split. The history is everything the user did up to and including the trigger; the targets are the
distinct items the user then buys (``targets`` event types) within ``window_events`` events and/or
``window_days`` days after it (both limits apply when both are set): the jacket -> gloves within two
weeks case. Ranking is full and pessimistic (:func:`xsell.evaluation.ranking.target_ranks`) over the same
batches and scorer as the leave-one-out metrics.

Metrics over the triggers with at least one target in their window:

- ``window_hit@k``: share of triggers whose top-k holds at least one of the targets;
- ``window_recall@k``: mean share of each trigger's targets in its top-k;
- ``window_triggers``, ``window_triggers_with_target``, ``window_targets``: counts.

Example::

    protocol = TriggerWindow(triggers=("cart",), targets=("purchase",), window_days=14)
    result = protocol.evaluate(model.score, datamodule.prepared, ks=(10,))
    result.metrics["window_hit@10"]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.datasets import EvaluationTargets
from xsell.data.prepared import PreparedData
from xsell.data.schema import PAD_INDEX, TIMESTAMP
from xsell.data.sequences import EncodedLog, pack_rows
from xsell.data.splits import TRAIN
from xsell.evaluation.protocol import seen_items_label
from xsell.evaluation.ranking import MISS, target_ranks
from xsell.evaluation.report import target_batches

DAY = 86_400
TRIGGER = "trigger"  # row of the trigger event in the flat log
TARGETS = "targets"  # distinct target item indices in the window


@dataclass
class TriggerResult:
    """Metrics (plain floats) and one row per trigger: ``trigger`` (row), ``user``, ``trigger_event``,
    ``targets`` (list of item indices) and ``best_rank`` (the best target's rank; MISS when none is found);
    ``exclude_seen``: whether the history was dropped from the ranking."""

    metrics: dict[str, float]
    table: pl.DataFrame
    exclude_seen: bool = True

    def to_markdown(self, digits: int = 4) -> str:
        """The window metrics as a markdown table (one row per cut-off) and the trigger counts."""
        ks = sorted(int(key.split("@")[1]) for key in self.metrics if key.startswith("window_hit@"))
        rows = ["| k | window_hit | window_recall |", "|---:|---:|---:|"]
        rows += [f"| {k} | {self.metrics[f'window_hit@{k}']:.{digits}f} | {self.metrics[f'window_recall@{k}']:.{digits}f} |"
                 for k in ks]
        counts = (f"{int(self.metrics['window_triggers'])} triggers, {int(self.metrics['window_triggers_with_target'])} "
                  f"with a target in their window ({int(self.metrics['window_targets'])} targets); metrics over those, "
                  f"{seen_items_label(self.exclude_seen)}.")
        return "\n".join([counts, "", *rows])


@dataclass
class TriggerWindow:
    """The trigger-point protocol (a Hydra object: ``configs/trigger/<name>.yaml``).

    Args:
        triggers: event types that trigger a recommendation (``cart``, ``purchase``).
        targets: event types that count as a conversion (``purchase``).
        window_events: the target must come within this many events after the trigger (None: no limit).
        window_days: ... and within this many days (None: no limit). At least one limit is needed.
        new_items_only: count only purchases of items the user had not touched up to the trigger (the
            cross-sell question; by default buying the carted item itself is a target too).
        batch_size: triggers scored at once.
    """

    triggers: Sequence[str] = ("cart", "purchase")
    targets: Sequence[str] = ("purchase",)
    window_events: int | None = None
    window_days: float | None = 14.0
    new_items_only: bool = False
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.window_events is None and self.window_days is None:
            raise ValueError("a trigger window needs window_events, window_days or both")
        if (self.window_events is not None and self.window_events < 1) or (
                self.window_days is not None and self.window_days < 0):
            raise ValueError(f"window_events must be >= 1 and window_days >= 0, got {self.window_events}, "
                             f"{self.window_days}")

    def points(self, log: EncodedLog, timestamps: np.ndarray) -> pl.DataFrame:
        """Every trigger outside the training part: ``trigger``, ``user``, ``trigger_event``, ``targets``
        (the distinct items bought in its window, in order; empty when none)."""
        index = log.event_types.index_of()
        unknown = sorted((set(self.triggers) | set(self.targets)) - set(index))
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; the log's event types are {list(index)}")
        events = pl.LazyFrame({"row": np.arange(len(log), dtype=np.int64), "user": log.user, "item": log.item,
                               "event": log.event, "part": log.part, "ts": np.asarray(timestamps, dtype=np.int64)})
        later = events.filter(pl.col("part") != TRAIN)
        triggers = later.filter(pl.col("event").is_in([index[n] for n in self.triggers])).select(
            pl.col("row").alias(TRIGGER), "user", pl.col("event").cast(pl.Int64).alias("trigger_event"),
            pl.col("ts").alias("trigger_ts"))
        window = pl.col("row") > pl.col(TRIGGER)
        if self.window_events is not None:
            window &= pl.col("row") - pl.col(TRIGGER) <= self.window_events
        if self.window_days is not None:
            window &= pl.col("ts") - pl.col("trigger_ts") <= self.window_days * DAY
        if self.new_items_only:  # the user's first event with the item comes after the trigger
            window &= pl.col("first_seen") > pl.col(TRIGGER)
            later = later.join(events.group_by("user", "item").agg(pl.col("row").min().alias("first_seen")),
                               on=["user", "item"], how="left")
        bought = (
            triggers.join(later.filter(pl.col("event").is_in([index[n] for n in self.targets])), on="user")
            .filter(window)
            .sort(TRIGGER, "row")
            .group_by(TRIGGER).agg(pl.col("item").cast(pl.Int64).unique(maintain_order=True).alias(TARGETS))
        )
        return (
            triggers.join(bought, on=TRIGGER, how="left")
            .select(TRIGGER, pl.col("user").cast(pl.Int64), "trigger_event",
                    pl.col(TARGETS).fill_null(pl.lit([], dtype=pl.List(pl.Int64))))
            .sort(TRIGGER)
            .collect()
        )

    @torch.no_grad()
    def evaluate(self, score: Callable[[SequenceBatch], Tensor], data: PreparedData, *,
                 ks: Sequence[int] = (5, 10, 20), exclude_seen: bool = True) -> TriggerResult:
        """Window metrics of ``score(batch) -> [B, N]`` at every trigger of prepared data
        (``datamodule.prepared``).

        ``exclude_seen`` drops the history (trigger included) from the ranking, never a target.
        """
        ks = tuple(sorted(set(ks)))
        log = data.log
        points = self.points(log, data.split.events.get_column(TIMESTAMP).to_numpy())
        converted = points.filter(pl.col(TARGETS).list.len() > 0)
        best = np.full(converted.height, MISS, dtype=np.int64)
        found = {k: np.zeros(converted.height) for k in ks}
        if converted.height:
            rows = converted.get_column(TRIGGER).to_numpy()
            targets = _padded(converted.get_column(TARGETS))  # [T, M], 0 pads
            dataset = EvaluationTargets(log, pack_rows(log, rows + 1, data.max_len), data.item_features)
            batches, keys = target_batches(dataset, self.batch_size)  # histories end at the trigger
            for batch, key in zip(batches, keys, strict=True):
                at = np.searchsorted(rows, key - 1)  # [B] positions in ``converted``
                scores = score(batch)
                ranks = _target_ranks(scores, torch.from_numpy(targets[at]).to(scores.device),
                                      batch.exclude.to(scores.device) if exclude_seen else None)  # [B, M]
                best[at] = ranks.min(1).values.cpu().numpy()
                for k in ks:
                    found[k][at] = (ranks <= k).sum(1).cpu().numpy()
        sizes = converted.get_column(TARGETS).list.len().to_numpy().astype(np.float64)
        metrics: dict[str, float] = {"window_triggers": float(points.height),
                                     "window_triggers_with_target": float(converted.height),
                                     "window_targets": float(sizes.sum())}
        for k in ks:
            empty = converted.height == 0
            metrics[f"window_hit@{k}"] = float("nan") if empty else float((best <= k).mean())
            metrics[f"window_recall@{k}"] = float("nan") if empty else float((found[k] / sizes).mean())
        table = converted.with_columns(pl.Series("best_rank", best, dtype=pl.Int64))
        return TriggerResult(metrics=metrics, table=table, exclude_seen=exclude_seen)


def _padded(lists: pl.Series) -> np.ndarray:
    """A List[Int64] column -> ``[R, M]`` int64, left-aligned, 0 pads."""
    lengths = lists.list.len().to_numpy()
    out = np.full((len(lists), max(int(lengths.max(initial=0)), 1)), PAD_INDEX, dtype=np.int64)
    out[np.arange(len(lists)).repeat(lengths), np.concatenate([np.arange(n) for n in lengths])] = (
        lists.explode().to_numpy())
    return out


def _target_ranks(scores: Tensor, targets: Tensor, exclude: Tensor | None) -> Tensor:
    """``[B, M]`` full pessimistic rank of every target (one :func:`target_ranks` pass per target column);
    padding entries get ``MISS``."""
    ranks = torch.stack([target_ranks(scores, targets[:, j], exclude) for j in range(targets.shape[1])], dim=1)
    return ranks.masked_fill(targets == PAD_INDEX, MISS)
