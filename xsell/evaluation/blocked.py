"""Full ranking of a dot-product scorer block by block over the catalog: target ranks and served top-k lists
without ever holding the ``[B, N]`` score matrix.

Every xsell model scores ``encode(batch) @ item_embeddings().T``. :class:`DotProductScorer` says so, and the
evaluation (:class:`~xsell.evaluation.protocol.RankingEvaluation`, :func:`~xsell.evaluation.table.rank_table`)
then scores the catalog ``block`` items at a time: a ``[block, B]`` tile stays in the CPU caches where a
``[B, N]`` matrix of a million-item catalog goes out to memory and back. Per tile the ranks count the items
scoring at least the target, and the top-k lists merge the tile's best items into the running ones; the
excluded items and the target itself are corrected only in the tile that holds them (pairs sorted by item
once per batch), so the per-tile work is one comparison and one sum.

The results are those of the score-matrix path (:func:`~xsell.evaluation.ranking.target_ranks`,
:func:`~xsell.evaluation.table.top_k_items`): pessimistic ties, exclusions, ties of the top-k broken by item
index, NaN below every finite score. With exact arithmetic they are identical (the tests use integer
vectors with many ties); in floating point the tile products may round differently from one big product, so
only an item within rounding of the target's score (or of the k-th) can be counted differently.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from xsell.data.batch import SequenceBatch
from xsell.data.schema import FIRST_INDEX
from xsell.evaluation.ranking import MISS, first_occurrences, misses

# Catalog items scored at once: a [block, B] float32 tile of up to 1,024 queries (2 MiB) stays in the CPU caches.
ITEM_BLOCK = 512


class DotProductScorer:
    """A scorer known to be ``encode(batch) @ items.T``, so that evaluation can rank it block by block.

    Calling it returns the dense ``[B, N]`` scores, like any ``score(batch)`` (for code that needs them:
    cross-sell rules, sampled negatives).

    Args:
        encode: ``SequenceBatch -> [B, D]`` query vectors. items: ``[N, D]`` item vectors (row = item index).

    Example::

        scorer = DotProductScorer.of_model(model.eval())
        metrics = evaluate_scorer(scorer, datamodule.test_dataloader())  # no [B, N] scores
    """

    def __init__(self, encode: Callable[[SequenceBatch], Tensor], items: Tensor) -> None:
        self.encode = encode
        self.items = items

    @classmethod
    @torch.no_grad()
    def of_model(cls, model: nn.Module) -> DotProductScorer:
        """A model's ``encode`` against its ``item_embeddings()`` (computed once, now)."""
        return cls(model.encode, model.item_embeddings().detach())

    def __call__(self, batch: SequenceBatch) -> Tensor:
        return self.encode(batch) @ self.items.T  # [B, N]


def blocked_target_ranks(queries: Tensor, items: Tensor, targets: Tensor, exclude: Tensor | None = None,
                         block: int = ITEM_BLOCK) -> Tensor:
    """:func:`~xsell.evaluation.ranking.target_ranks` of ``queries @ items.T`` (``[B, D]``, ``[N, D]``) scored
    ``block`` items at a time; ``[B]`` int64 ranks (``MISS`` for a certain miss)."""
    return blocked_ranking(queries, items, targets, exclude, k=0, block=block)[0]


def blocked_top_k(queries: Tensor, items: Tensor, k: int, exclude: Tensor | None = None,
                  block: int = ITEM_BLOCK) -> Tensor:
    """:func:`~xsell.evaluation.table.top_k_items` of ``queries @ items.T`` scored ``block`` items at a time:
    ``[B, min(k, N - 2)]`` item indices, best first, ties by item index, ``-1`` where no item is left."""
    return blocked_ranking(queries, items, None, exclude, k=k, block=block)[1]


@torch.no_grad()
def blocked_ranking(
    queries: Tensor,
    items: Tensor,
    targets: Tensor | None,
    exclude: Tensor | None = None,
    *,
    k: int = 0,
    block: int = ITEM_BLOCK,
) -> tuple[Tensor | None, Tensor | None]:
    """Target ranks and top-``k`` lists of the scores ``queries @ items.T`` in one pass over the catalog.

    Args:
        queries: ``[B, D]``. items: ``[N, D]`` (index = item index; padding and unknown never ranked).
        targets: ``[B]`` target indices, or None for no ranks.
        exclude: ``[B, M]`` item indices (0 pads, repeats allowed): dropped from the ranking (never the
            target) and from the lists (the target too: a served list cannot depend on it).
        k: list length (0: no lists). block: catalog items scored at once.
    Returns:
        ``(ranks [B] int64 or None, top [B, min(k, N - 2)] int64 or None)``.
    """
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    batch, num_items = queries.shape[0], items.shape[0]
    starts = torch.arange(FIRST_INDEX, max(num_items, FIRST_INDEX), block)  # [blocks]
    has_exclude = exclude is not None and exclude.numel() > 0
    ranking = targets is not None
    if ranking:
        # [B], as the tiles compute it; contiguous, or every comparison with it takes a slow strided path
        target_score = (items[targets] @ queries.T).diagonal().contiguous()
        # items that the comparison counts but the rank must not: unique excluded items other than the target,
        # and the target itself (counted once, up front: ties go against it)
        rows, cols = _target_pairs(targets, num_items)
        if has_exclude:
            drop = first_occurrences(exclude) & (exclude >= FIRST_INDEX) & (exclude != targets.unsqueeze(1))
            rows, cols = torch.cat([rows, drop.nonzero()[:, 0]]), torch.cat([cols, exclude[drop]])
        rank_pairs = _by_block(rows, cols, starts)
        at_least = torch.ones(batch, dtype=torch.float64, device=queries.device)
    width = min(k, max(num_items - FIRST_INDEX, 0))
    if width > 0:
        hidden = exclude.nonzero() if has_exclude else torch.zeros(0, 2, dtype=torch.long)  # [P, 2]
        hidden_cols = exclude[hidden[:, 0], hidden[:, 1]] if has_exclude else hidden[:, 1]
        top_pairs = _by_block(hidden[:, 0], hidden_cols, starts)
        top_values = torch.full((batch, width), -torch.inf, dtype=torch.promote_types(queries.dtype, torch.float32))
        top_index = torch.full((batch, width), -1, dtype=torch.long)

    for number, start in enumerate(starts.tolist()):
        end = min(start + block, num_items)
        tile = items[start:end] @ queries.T  # [b, B]
        if width > 0:
            top_values, top_index = _merge_tile(top_values, top_index, tile, top_pairs[number], start)
        if ranking:
            higher = tile.ge_(target_score)  # [b, B] 1.0 where the item scores at least the target
            at_least += higher.sum(0)  # exact: at most `block` per tile
            pair_rows, pair_cols = rank_pairs[number]
            at_least.index_add_(0, pair_rows, higher[pair_cols - start, pair_rows].double(), alpha=-1)
    ranks = None
    if ranking:
        ranks = torch.where(misses(targets, target_score.unsqueeze(1)), MISS, at_least.long())
    top = None
    if k > 0:
        top = top_index.masked_fill(top_values == -torch.inf, -1) if width > 0 else torch.zeros(batch, 0).long()
    return ranks, top


def _target_pairs(targets: Tensor, num_items: int) -> tuple[Tensor, Tensor]:
    """``(rows, items)`` of the targets that lie in the ranked part of the catalog."""
    inside = (targets >= FIRST_INDEX) & (targets < num_items)
    return inside.nonzero().squeeze(1), targets[inside]


def _by_block(rows: Tensor, cols: Tensor, starts: Tensor) -> list[tuple[Tensor, Tensor]]:
    """``(row, item)`` pairs split by the block of their item: one ``(rows, items)`` pair of tensors per block."""
    order = cols.argsort(stable=True)
    rows, cols = rows[order], cols[order]
    bounds = torch.searchsorted(cols, starts).tolist() + [len(cols)]
    return [(rows[a:b], cols[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _merge_tile(values: Tensor, index: Tensor, tile: Tensor, hidden: tuple[Tensor, Tensor],
                start: int) -> tuple[Tensor, Tensor]:
    """The running ``[B, width]`` best ``(values, index)`` merged with a tile ``[b, B]`` of items ``start ..``:
    by decreasing value, ties by lower item index, as a stable sort of the whole row would order them.

    Keys are those of :func:`~xsell.evaluation.table.top_k_items`: NaN and ``-inf`` lowest finite, excluded
    items (``hidden`` pairs of rows and items) ``-inf``, never served."""
    width = values.shape[1]
    kth = values[:, -1]  # [B]
    # a tile item enters a full list only by beating its k-th value: on a tie the running item has the lower
    # index; a NaN maximum or a list not yet full always merges
    rows = (~(tile.max(0).values <= kth) | (kth == -torch.inf)).nonzero().squeeze(1)  # [R]
    if len(rows) == 0:
        return values, index
    lowest = torch.finfo(values.dtype).min
    key = tile[:, rows].T.to(values.dtype).contiguous()  # [R, b]
    key.nan_to_num_(nan=lowest, posinf=torch.inf, neginf=lowest)
    position = torch.full((len(values),), -1, dtype=torch.long, device=rows.device)
    position[rows] = torch.arange(len(rows), device=rows.device)
    hidden_rows, hidden_items = hidden
    inside = position[hidden_rows] >= 0
    key[position[hidden_rows[inside]], hidden_items[inside] - start] = -torch.inf

    local = ordered_top(key, min(width, key.shape[1]))  # [R, w] tile columns, ties by column; -1: -inf
    tile_values = key.gather(1, local.clamp(min=0)).masked_fill(local < 0, -torch.inf)
    # the running items all have lower indices than the tile's: a stable sort of the concatenation by value
    # keeps them first among equals, and each part is already ordered by index among its own equals
    merged_values = torch.cat([values[rows], tile_values], dim=1)
    merged_index = torch.cat([index[rows], torch.where(local < 0, -1, local + start)], dim=1)
    order = merged_values.argsort(dim=1, descending=True, stable=True)[:, :width]
    values, index = values.clone(), index.clone()
    values[rows], index[rows] = merged_values.gather(1, order), merged_index.gather(1, order)
    return values, index


def ordered_top(key: Tensor, width: int) -> Tensor:
    """``[C, width]`` column indices of the largest keys, best first, ties by lower column, ``-inf`` (never
    served) as -1: exactly a stable sort of each row by decreasing key, cut at ``width``."""
    num_items = key.shape[1]
    values, index = key.topk(min(width + 1, num_items), dim=1)  # one extra: does a tie cross the cut?
    kth = values[:, width - 1]
    if values.shape[1] > width:
        # topk picks arbitrary items among those tied with the last value it keeps; where some tied item
        # is left out, the lowest-index ones must be kept instead (a tail of -inf is dropped anyway).
        partial = (values[:, width] == kth) & (kth > -torch.inf)
        values, index = values[:, :width], index[:, :width]
    else:
        partial = torch.zeros_like(kth, dtype=torch.bool)
    index, order = index.sort(dim=1)  # increasing item index, then a stable sort by decreasing value
    values = values.gather(1, order)
    order = values.argsort(dim=1, descending=True, stable=True)
    index, values = index.gather(1, order), values.gather(1, order)
    if partial.any():
        rows = partial.nonzero().squeeze(1)
        cut = kth[rows].unsqueeze(1)  # [R, 1]
        exact = torch.float64 if num_items >= 1 << 24 else key.dtype  # -index must be exact
        position = -torch.arange(num_items, dtype=exact, device=key.device)
        ties = torch.where(key[rows] == cut, position, -torch.inf).topk(width, dim=1).indices  # lowest first
        above = (values[rows] > cut).sum(1, keepdim=True)  # [R, 1] items strictly above the cut: all kept
        slot = torch.arange(width, device=key.device).unsqueeze(0)  # [1, width]
        keep = slot < above
        index[rows] = torch.where(keep, index[rows], ties.gather(1, (slot - above).clamp(min=0)))
        values[rows] = torch.where(keep, values[rows], cut)
    return index.masked_fill(values == -torch.inf, -1)
