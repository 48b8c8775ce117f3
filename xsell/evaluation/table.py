"""Per-prediction evaluation tables: one row per target with its rank and the list a scorer would serve.

A rank table is the raw material of every finer analysis (confidence intervals, paired tests, segments,
beyond-accuracy metrics): aggregate metrics are means of per-row values computed from its ``rank`` column
with :func:`xsell.evaluation.metrics.metrics_from_ranks`, so they equal what
:func:`xsell.evaluation.protocol.evaluate_scorer` reports on the same batches.

Columns (the names are the constants below):

- ``row`` (Int64): the order key of the prediction, see :func:`rank_table`;
- ``user`` (Int64): user index; ``target`` (Int64): target item index;
- ``rank`` (Int64): 1-based pessimistic full-catalog rank of the target (:func:`~xsell.evaluation.ranking.target_ranks`),
  ``MISS`` for a target that cannot be found (unknown item, non-finite score);
- ``history_length`` (Int64): number of events in the user's full history before the target (not cut at
  the model's window);
- ``last_item`` / ``last_event`` (Int64): item and event-type index of the most recent history event (0 when
  the history is empty);
- ``target_event`` (Int64): event-type index of the target;
- ``top_k`` (List[Int64]): the ``k`` best item indices, best first (see :func:`top_k_items`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import polars as pl
import pyarrow as pa
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.schema import FIRST_INDEX, PAD_INDEX
from xsell.evaluation.blocked import DotProductScorer, blocked_ranking, ordered_top
from xsell.evaluation.metrics import METRICS, metrics_from_ranks
from xsell.evaluation.ranking import MISS, target_ranks

ROW = "row"
USER = "user"
TARGET = "target"
RANK = "rank"
HISTORY_LENGTH = "history_length"
LAST_ITEM = "last_item"
LAST_EVENT = "last_event"
TARGET_EVENT = "target_event"
TOP_K = "top_k"
COLUMNS = (ROW, USER, TARGET, RANK, HISTORY_LENGTH, LAST_ITEM, LAST_EVENT, TARGET_EVENT, TOP_K)

_CHUNK_ELEMENTS = 1 << 22  # scores handled at once by top_k_items (a 16 MiB float32 copy)


@torch.no_grad()
def top_k_items(
    scores: Tensor, k: int, exclude: Tensor | None = None, *, chunk_elements: int = _CHUNK_ELEMENTS
) -> Tensor:
    """The ``k`` best item indices of each row, best first, with deterministic tie-breaking.

    Padding and the unknown item are never recommended; ``exclude`` items (e.g. the user's whole history,
    0 pads) are dropped too -- all of them, the target included, because a served list cannot depend on
    the target. Equal scores are ordered by increasing item index (as a stable sort of the whole row
    would); NaN and ``-inf`` scores rank below every finite score (tied with the lowest finite value).
    Rows are processed in chunks of about ``chunk_elements`` scores with ``torch.topk``, so memory stays
    within a copy of one chunk.

    Args:
        scores: ``[B, N]`` scores of every item index.
        k: list length.
        exclude: ``[B, M]`` item indices never to recommend, or None.
    Returns:
        ``[B, min(k, N - 2)]`` int64 item indices; ``-1`` pads the tail of a row with fewer eligible items.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    batch, num_items = scores.shape
    width = min(k, max(num_items - FIRST_INDEX, 0))
    out = torch.full((batch, width), -1, dtype=torch.long, device=scores.device)
    if width == 0 or batch == 0:
        return out
    dtype = torch.promote_types(scores.dtype, torch.float32)  # exact for half / bfloat16 scores: ties kept
    lowest = torch.finfo(dtype).min
    step = max(1, chunk_elements // num_items)
    for start in range(0, batch, step):
        key = scores[start:start + step].to(dtype, copy=True)
        key.nan_to_num_(nan=lowest, posinf=torch.inf, neginf=lowest)
        key[:, :FIRST_INDEX] = -torch.inf  # -inf marks what may never be served
        if exclude is not None and exclude.numel():
            key.scatter_(1, exclude[start:start + step].to(key.device), -torch.inf)
        out[start:start + step] = ordered_top(key, width)
    return out


@torch.no_grad()
def rank_table(
    score: Callable[[SequenceBatch], Tensor],
    batches: Iterable[SequenceBatch],
    *,
    k: int = 20,
    exclude_seen: bool = True,
    rows: Iterable[Sequence[int] | np.ndarray | Tensor] | None = None,
) -> pl.DataFrame:
    """One row per prediction: rank of the target, context of the history, and the served top-``k``.

    Only one batch of scores exists at a time (a block of one, for a dot-product scorer). The ``row`` key makes tables of different runs joinable:
    it is taken from ``batch.row`` when the batch carries one, else from ``rows`` (one array per batch,
    e.g. ``EvaluationTargets.packed.row[indices]``, the target's index in the flat log), else a running
    counter over the batches -- which identifies the same targets in two runs only when both iterate the
    same batches in the same order. Rows must be unique; the table is sorted by ``row``.

    Args:
        score: ``score(batch) -> [B, N]`` scores of every item index (a baseline's ``score``), or a
            :class:`~xsell.evaluation.blocked.DotProductScorer` (a model: ``DotProductScorer.of_model``), ranked
            block by block over the catalog with the same results and no ``[B, N]`` scores.
        batches: evaluation batches (``target`` set; ``exclude`` holds the full history).
        k: length of the ``top_k`` lists (at most the number of eligible items).
        exclude_seen: drop the user's history from the ranking (never the target, as in
            :func:`~xsell.evaluation.ranking.target_ranks`) and from ``top_k`` (there the target too).
        rows: per-batch row keys, used when batches have no ``row`` attribute.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    row_keys = iter(rows) if rows is not None else None
    counter = 0
    num_items: int | None = None
    parts: dict[str, list[np.ndarray]] = {name: [] for name in COLUMNS}
    for batch in batches:
        if batch.target is None:
            raise ValueError("rank_table needs evaluation batches (batch.target is None)")
        size = len(batch)
        if isinstance(score, DotProductScorer):  # ranked block by block over the catalog: no [B, N] scores
            queries = score.encode(batch)  # [B, D]
            target = batch.target.to(queries.device)
            exclude = batch.exclude.to(queries.device) if exclude_seen and batch.exclude is not None else None
            ranks, top = blocked_ranking(queries, score.items, target, exclude, k=k)
        else:
            ranks, top, num_items = _dense_ranking(score, batch, k, exclude_seen, num_items)

        if row_keys is not None:  # explicit keys win over the batch's own
            batch_rows = next(row_keys, None)
            if batch_rows is None:
                raise ValueError("rows has fewer entries than there are batches")
        else:
            batch_rows = getattr(batch, ROW, None)
        if batch_rows is None:
            batch_rows = np.arange(counter, counter + size)
        counter += size
        history = batch.exclude if batch.exclude is not None else batch.items
        parts[ROW].append(_numpy(batch_rows, size, "rows"))
        parts[USER].append(_numpy(batch.users, size, "users") if batch.users is not None
                           else np.full(size, -1, dtype=np.int64))
        parts[TARGET].append(_numpy(batch.target, size))
        parts[RANK].append(_numpy(ranks, size))
        parts[HISTORY_LENGTH].append(_numpy((history != PAD_INDEX).sum(1), size))
        parts[LAST_ITEM].append(_numpy(batch.items[:, -1], size))
        parts[LAST_EVENT].append(_numpy(batch.events[:, -1], size))
        parts[TARGET_EVENT].append(_numpy(batch.target_event, size) if batch.target_event is not None
                                   else np.zeros(size, dtype=np.int64))
        parts[TOP_K].append(top.cpu().numpy())
    if row_keys is not None and next(row_keys, None) is not None:
        raise ValueError("rows has more entries than there are batches")

    columns = {name: np.concatenate(values) if values else np.zeros(0, dtype=np.int64)
               for name, values in parts.items() if name != TOP_K}
    top = np.concatenate(parts[TOP_K]) if parts[TOP_K] else np.zeros((0, 0), dtype=np.int64)
    table = pl.DataFrame(columns).with_columns(_list_column(top))
    if table.get_column(ROW).n_unique() != table.height:
        raise ValueError("row keys are not unique: pass one key per target (e.g. packed.row[indices])")
    return table.select(COLUMNS).sort(ROW)


def _dense_ranking(score: Callable[[SequenceBatch], Tensor], batch: SequenceBatch, k: int, exclude_seen: bool,
                   num_items: int | None) -> tuple[Tensor, Tensor, int]:
    """Ranks and top-``k`` of one batch from its ``[B, N]`` score matrix, and ``N`` (checked across batches)."""
    scores = score(batch)
    size = len(batch)
    if scores.dim() != 2 or scores.shape[0] != size:
        raise ValueError(f"score(batch) must return [B, N] = [{size}, N] scores, got {tuple(scores.shape)}")
    if num_items is not None and scores.shape[1] != num_items:
        raise ValueError(f"the scorer returned {scores.shape[1]} items for one batch, {num_items} for another")
    device = scores.device
    target = batch.target.to(device)
    exclude = batch.exclude.to(device) if exclude_seen and batch.exclude is not None else None
    return target_ranks(scores, target, exclude), top_k_items(scores, k, exclude), scores.shape[1]


def _numpy(values, size: int, what: str = "values") -> np.ndarray:
    array = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
    array = array.astype(np.int64).reshape(-1)
    if array.shape[0] != size:
        raise ValueError(f"{what} has {array.shape[0]} entries for a batch of {size}")
    return array


def _list_column(top: np.ndarray) -> pl.Series:
    """``[R, w]`` indices with -1 tail padding -> a List[Int64] column of the real entries."""
    valid = top >= 0
    offsets = np.concatenate([[0], np.cumsum(valid.sum(1))]).astype(np.int64)
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(top[valid].astype(np.int64)))
    return pl.Series(TOP_K, pl.from_arrow(lists), dtype=pl.List(pl.Int64))


# ------------------------------------------------------------------------------ per-row metric values


def _ranks(table: pl.DataFrame) -> Tensor:
    return torch.from_numpy(np.array(table.get_column(RANK).to_numpy(), dtype=np.int64))  # a writable copy


def metric_values(table: pl.DataFrame, metric: str) -> np.ndarray:
    """``[R]`` float64 values of one metric: a column of ``table`` if present, else computed from ``rank``
    for a name ``"<metric>@<k>"`` with ``<metric>`` in :data:`~xsell.evaluation.metrics.METRICS`."""
    if metric in table.columns:
        return table.get_column(metric).cast(pl.Float64).to_numpy()
    name, _, k = metric.partition("@")
    if name not in METRICS or not k.isdigit():
        raise ValueError(f"unknown metric {metric!r}: expected a column or one of {METRICS} as 'name@k'")
    ranks = _ranks(table)
    return metrics_from_ranks(ranks, (int(k),))[metric].numpy()


def with_metrics(table: pl.DataFrame, ks: Iterable[int], metrics: Iterable[str] = METRICS) -> pl.DataFrame:
    """The table with one float64 column per metric and cut-off (``ndcg@10``, ...), computed from ``rank``."""
    ranks = _ranks(table)
    wanted = tuple(metrics)
    values = metrics_from_ranks(ranks, tuple(ks))
    return table.with_columns(
        pl.Series(name, column.numpy(), dtype=pl.Float64)
        for name, column in values.items() if name.partition("@")[0] in wanted
    )


def mean_metrics(table: pl.DataFrame, ks: Iterable[int]) -> dict[str, float]:
    """Means of every metric in :data:`~xsell.evaluation.metrics.METRICS` at every cut-off (empty table: {})."""
    if table.height == 0:
        return {}
    ranks = _ranks(table)
    return {name: float(values.mean()) for name, values in metrics_from_ranks(ranks, tuple(ks)).items()}


def is_miss(table: pl.DataFrame) -> pl.Series:
    """Rows whose target could not be ranked at all (``rank == MISS``)."""
    return table.get_column(RANK) == MISS
