"""Beyond-accuracy metrics of served lists: coverage, novelty, diversity, cross-sell rate, association lift.

Every function reads the ``top_k`` lists of a rank table (:mod:`xsell.evaluation.table`), cut at ``k``,
plus training statistics indexed by item index (counts, category codes, pair counts). Per-list values are
averaged with equal weight per prediction, like the accuracy metrics; a list on which a metric is undefined
(e.g. diversity of a one-item list) is left out of the mean, and a mean over no list is NaN.

Category codes are non-negative integers per item index (``-1`` = unknown category, as for padding and the
unknown item); build them with :func:`item_category_codes`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from xsell.data.schema import FIRST_INDEX, ITEM
from xsell.data.sequences import EncodedLog
from xsell.data.splits import TRAIN
from xsell.data.vocabulary import Vocabulary

ANTECEDENT = "antecedent"
CONSEQUENT = "consequent"
COUNT = "count"


def flatten_lists(lists: pl.Series, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, items)``: the first ``k`` entries of every list, flat, with the position of the list
    each entry belongs to (so per-list sums are ``np.bincount(owner, weights)``)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    head = lists.list.head(k)
    lengths = head.list.len().to_numpy().astype(np.int64)
    items = head.explode().drop_nulls().to_numpy().astype(np.int64)
    if items.shape[0] != lengths.sum():
        raise ValueError("top-k lists must not contain nulls")
    return np.repeat(np.arange(len(lists)), lengths), items


def _per_list_mean(owner: np.ndarray, values: np.ndarray, defined: np.ndarray, n_lists: int) -> np.ndarray:
    """``[n_lists]`` mean of ``values`` over each list's entries where ``defined``; NaN for no entry."""
    total = np.bincount(owner[defined], weights=values[defined], minlength=n_lists)
    count = np.bincount(owner[defined], minlength=n_lists)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _mean(values: np.ndarray) -> float:
    """Mean over defined (non-NaN) entries; NaN when there is none."""
    defined = ~np.isnan(values)
    return float(values[defined].mean()) if defined.any() else float("nan")


def _lookup(codes: np.ndarray, items: np.ndarray, what: str) -> np.ndarray:
    """``codes[items]`` with a clear error when an index lies outside the table."""
    if items.size and (items.min() < 0 or items.max() >= len(codes)):
        raise ValueError(f"item index {int(items.max())} outside the {what} table of {len(codes)} items")
    return codes[items]


# ------------------------------------------------------------------------------------------- coverage


def catalog_coverage(top_k: pl.Series, k: int, num_items: int) -> float:
    """Share of the catalog (item indices ``2 .. num_items - 1``) that appears in at least one top-``k`` list.

    ``num_items`` is the vocabulary size, padding and unknown included (``len(item_vocab)``).
    """
    catalog = num_items - FIRST_INDEX
    if catalog <= 0:
        return float("nan")
    _, items = flatten_lists(top_k, k)
    items = items[(items >= FIRST_INDEX) & (items < num_items)]
    return float(np.unique(items).size / catalog)


# -------------------------------------------------------------------------------------------- novelty


def self_information(item_counts: np.ndarray) -> np.ndarray:
    """``[N]`` bits ``-log2 p(i)`` with ``p(i) = count_i / sum(count)`` from training counts.

    An item never seen in training is counted as seen once (its self-information is capped at
    ``log2(total)``) so that novelty stays finite.
    """
    counts = np.asarray(item_counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("item counts sum to zero: novelty needs training popularity")
    return -np.log2(np.maximum(counts, 1.0) / total)


def novelty_per_list(top_k: pl.Series, k: int, item_counts: np.ndarray) -> np.ndarray:
    """``[R]`` mean self-information (bits) of each list's items; NaN for an empty list."""
    owner, items = flatten_lists(top_k, k)
    bits = _lookup(self_information(item_counts), items, "item count")
    return _per_list_mean(owner, bits, np.ones(items.shape[0], dtype=bool), len(top_k))


def novelty(top_k: pl.Series, k: int, item_counts: np.ndarray) -> float:
    """Mean over lists of the mean self-information ``-log2 p(item)`` (bits): higher = less popular items."""
    return _mean(novelty_per_list(top_k, k, item_counts))


# ------------------------------------------------------------------------------------------ diversity


def diversity_per_list(top_k: pl.Series, k: int, categories: np.ndarray) -> np.ndarray:
    """``[R]`` share of item pairs in each list whose categories differ (intra-list diversity).

    Items of unknown category (code < 0) are left out; a list with fewer than two known items is NaN.
    Computed by counting: same-category pairs are ``sum_c n_c (n_c - 1) / 2`` for ``n_c`` items of
    category ``c`` in the list.
    """
    owner, items = flatten_lists(top_k, k)
    codes = _lookup(np.asarray(categories, dtype=np.int64), items, "category")
    known = codes >= 0
    owner, codes = owner[known], codes[known]
    n_lists = len(top_k)
    width = int(codes.max()) + 1 if codes.size else 1
    groups, sizes = np.unique(owner * width + codes, return_counts=True)
    same = np.bincount(groups // width, weights=sizes * (sizes - 1) / 2.0, minlength=n_lists)
    length = np.bincount(owner, minlength=n_lists).astype(np.float64)
    pairs = length * (length - 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, 1.0 - same / np.maximum(pairs, 1.0), np.nan)


def intra_list_diversity(top_k: pl.Series, k: int, categories: np.ndarray) -> float:
    """Mean over lists of the share of item pairs with different categories (0: one category per list)."""
    return _mean(diversity_per_list(top_k, k, categories))


# ---------------------------------------------------------------------------------------- cross-sell


def complement_rate_per_list(
    top_k: pl.Series, k: int, last_item: np.ndarray, categories: np.ndarray
) -> np.ndarray:
    """``[R]`` share of each list's items whose category differs from the last history item's category.

    NaN when the last history item has no known category (empty history, unknown item); recommended items
    of unknown category are left out.
    """
    owner, items = flatten_lists(top_k, k)
    codes = np.asarray(categories, dtype=np.int64)
    last = np.asarray(last_item, dtype=np.int64)
    if last.shape[0] != len(top_k):
        raise ValueError(f"last_item has {last.shape[0]} entries for {len(top_k)} lists")
    anchor = _lookup(codes, last, "category")[owner]
    recommended = _lookup(codes, items, "category")
    defined = (anchor >= 0) & (recommended >= 0)
    return _per_list_mean(owner, (recommended != anchor).astype(np.float64), defined, len(top_k))


def complement_rate(top_k: pl.Series, k: int, last_item: np.ndarray, categories: np.ndarray) -> float:
    """Mean over lists of the share of items from another category than the last history item (the
    cross-sell rate: 0 when every list stays in the category just browsed)."""
    return _mean(complement_rate_per_list(top_k, k, last_item, categories))


# ------------------------------------------------------------------------------------ association lift


def transition_counts(log: EncodedLog, key: np.ndarray | None = None) -> pl.DataFrame:
    """Counts of consecutive training pairs (an event, then the same user's next event), by key.

    Args:
        log: the encoded split log; only training events (``part == TRAIN``) are used.
        key: ``[N]`` code per item index (e.g. :func:`item_category_codes`) to count at that level; None
            counts item pairs. Codes below 0 (and, without a key, padding and unknown) are dropped.
    Returns:
        ``antecedent``, ``consequent``, ``count`` (Int64), one row per observed pair.
    """
    train = log.part == TRAIN
    follows = train[1:] & train[:-1] & (log.user[1:] == log.user[:-1])
    before = log.item[:-1][follows].astype(np.int64)
    after = log.item[1:][follows].astype(np.int64)
    if key is None:
        valid = (before >= FIRST_INDEX) & (after >= FIRST_INDEX)
    else:
        codes = np.asarray(key, dtype=np.int64)
        before, after = _lookup(codes, before, "key"), _lookup(codes, after, "key")
        valid = (before >= 0) & (after >= 0)
    return (
        pl.DataFrame({ANTECEDENT: before[valid], CONSEQUENT: after[valid]})
        .group_by(ANTECEDENT, CONSEQUENT).len(name=COUNT)
        .with_columns(pl.col(COUNT).cast(pl.Int64))
        .sort(ANTECEDENT, CONSEQUENT)
    )


def lift_per_list(
    top_k: pl.Series, k: int, last_item: np.ndarray, pairs: pl.DataFrame, key: np.ndarray | None = None
) -> np.ndarray:
    """``[R]`` mean association lift of the pairs (last history item, recommended item) of each list.

    ``lift(a, b) = n_ab * T / (n_a * n_b)``: observed co-occurrence over the count expected if antecedent
    and consequent were independent, where ``n_ab`` is the pair's count in ``pairs``, ``n_a`` and ``n_b``
    the antecedent and consequent margins of ``pairs`` and ``T`` its total. A recommended pair never seen
    has lift 0; a pair whose antecedent or consequent never occurs in ``pairs`` (or whose last item or
    recommended item has no code) is undefined and left out.

    Args:
        pairs: ``antecedent``, ``consequent``, ``count`` in the code space of ``key``
            (:func:`transition_counts`).
        key: ``[N]`` code per item index (e.g. categories); None for item indices.
    """
    owner, items = flatten_lists(top_k, k)
    last = np.asarray(last_item, dtype=np.int64)
    if last.shape[0] != len(top_k):
        raise ValueError(f"last_item has {last.shape[0]} entries for {len(top_k)} lists")
    if key is None:
        antecedent = np.where(last >= FIRST_INDEX, last, -1)[owner]
        consequent = np.where(items >= FIRST_INDEX, items, -1)
    else:
        codes = np.asarray(key, dtype=np.int64)
        antecedent = _lookup(codes, last, "key")[owner]
        consequent = _lookup(codes, items, "key")
    counts = pairs.select(pl.col(ANTECEDENT).cast(pl.Int64), pl.col(CONSEQUENT).cast(pl.Int64),
                          pl.col(COUNT).cast(pl.Float64))
    total = float(counts.get_column(COUNT).sum())
    recommended = pl.DataFrame({"_owner": owner, ANTECEDENT: antecedent, CONSEQUENT: consequent})
    lifted = (
        recommended
        .join(counts, on=[ANTECEDENT, CONSEQUENT], how="left", maintain_order="left")
        .join(counts.group_by(ANTECEDENT).agg(pl.col(COUNT).sum().alias("_n_a")), on=ANTECEDENT,
              how="left", maintain_order="left")
        .join(counts.group_by(CONSEQUENT).agg(pl.col(COUNT).sum().alias("_n_b")), on=CONSEQUENT,
              how="left", maintain_order="left")
        .select(pl.col(COUNT).fill_null(0.0) * total / (pl.col("_n_a") * pl.col("_n_b")))
        .to_series().fill_null(np.nan).to_numpy()
    )
    defined = ~np.isnan(lifted) & (antecedent >= 0) & (consequent >= 0)
    return _per_list_mean(owner, np.nan_to_num(lifted), defined, len(top_k))


def association_lift(
    top_k: pl.Series, k: int, last_item: np.ndarray, pairs: pl.DataFrame, key: np.ndarray | None = None
) -> float:
    """Mean over lists of the association lift of (last history item, recommended item) pairs against
    independence (see :func:`lift_per_list`): above 1, the lists follow what tends to come next."""
    return _mean(lift_per_list(top_k, k, last_item, pairs, key))


# ------------------------------------------------------------------------------------ category codes


def item_category_codes(
    items: pl.DataFrame, item_vocab: Vocabulary, column: str = "category"
) -> tuple[np.ndarray, list[str]]:
    """``([N] codes, names)``: the category code of every item index from an item table keyed by ``item_id``.

    Padding, the unknown item, items missing from the table and null categories get ``-1``; code ``c``
    is category ``names[c]`` (names sorted, so codes do not depend on row order).
    """
    if column not in items.columns:
        raise ValueError(f"item table has no {column!r} column (columns: {items.columns})")
    table = items.select(
        item_vocab.encode(pl.col(ITEM)).alias("_index"), pl.col(column).cast(pl.String).alias("_name")
    ).filter((pl.col("_index") >= FIRST_INDEX) & pl.col("_name").is_not_null())
    names = sorted(table.get_column("_name").unique().to_list())
    lookup = {name: code for code, name in enumerate(names)}
    codes = np.full(len(item_vocab), -1, dtype=np.int64)
    coded = table.with_columns(pl.col("_name").replace_strict(lookup, return_dtype=pl.Int64))
    codes[coded.get_column("_index").to_numpy()] = coded.get_column("_name").to_numpy()
    return codes, names
