"""The simulated shop's world: the catalog and customers as arrays, and the ground-truth affinity between items.

A :class:`ShopWorld` is built once from a ``synthetic_shop`` (or any ``Interactions`` whose ground truth has an
``affinity(anchor_items, recommended_items)`` method, like :class:`~xsell.data.synthetic.ShopGroundTruth`).
The synthetic shop's affinity depends on the two items' categories only, so the world keeps it as a
``[C, C]`` table (an ``[N, N]`` one would take gigabytes for large catalogs) and checks that assumption on a
sample of item pairs when it is built.
Everything downstream (sessions, policies, the response model) speaks in *world item indices*: rows of the
item table sorted by ``item_id``. Vocabularies of trained models map onto them with :meth:`ShopWorld.to_world`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from xsell.data.interactions import Interactions
from xsell.data.schema import FIRST_INDEX, ITEM, USER
from xsell.data.synthetic import SEGMENT_NAMES, SEGMENTS
from xsell.data.vocabulary import Vocabulary
from xsell.errors import SchemaError


@dataclass(frozen=True, eq=False)
class ShopWorld:
    """Catalog and customer arrays of a simulated shop.

    Attributes:
        item_ids: ``[N]`` item ids, sorted (world item ``i`` is ``item_ids[i]``).
        category: ``[N]`` int64 category index into ``category_names``.
        category_names: category names.
        price: ``[N]`` float64 item prices.
        category_affinity: ``[C, C]`` float64 ground-truth probability that an item of category ``d``
            (column) complements an anchor of category ``c`` (row), from the ground truth's ``affinity``;
            values in [0, 1]. Read it per item pair with :meth:`affinity`.
        user_ids: ``[U]`` user ids, sorted. user_segment: ``[U]`` int64 index into ``SEGMENT_NAMES``.
        segment_purchase_prob: ``[G]`` probability that a cart of a segment's customer ends in a purchase.
        segment_price_sensitivity: ``[G]`` the segment's price sensitivity (``SEGMENTS``).
    """

    item_ids: np.ndarray
    category: np.ndarray
    category_names: list[str]
    price: np.ndarray
    category_affinity: np.ndarray
    user_ids: np.ndarray
    user_segment: np.ndarray
    segment_purchase_prob: np.ndarray
    segment_price_sensitivity: np.ndarray

    @property
    def num_items(self) -> int:
        return int(self.item_ids.size)

    @property
    def max_affinity(self) -> float:
        """The largest affinity of any pair (the most helpful offer there is)."""
        return float(self.category_affinity.max(initial=0.0))

    def affinity(self, anchors: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Ground-truth affinity of world items ``items`` for anchors ``anchors`` (broadcast, e.g. ``[S, 1]``
        against ``[S, K]``), float64 in [0, 1]."""
        return self.category_affinity[self.category[anchors], self.category[items]]

    @classmethod
    def from_shop(cls, shop: Interactions) -> ShopWorld:
        """Arrays of a synthetic shop: its item table (``category``, ``price``), user table (``segment``) and the
        ground truth's ``affinity``; a missing table, column or ground truth raises ``SchemaError``."""
        truth = shop.ground_truth
        if truth is None or not hasattr(truth, "affinity"):
            raise SchemaError("the simulator needs a ground truth with affinity() (use synthetic_shop)",
                              source=shop.name)
        for name, table, columns in (("items", shop.items, (ITEM, "category", "price")),
                                     ("users", shop.users, (USER, "segment"))):
            if table is None:
                raise SchemaError(f"the simulator needs the {name} table", source=shop.name)
            missing = [c for c in columns if c not in table.columns]
            if missing:
                raise SchemaError(f"the {name} table lacks {missing}", source=shop.name, column=missing[0])
        items = shop.items.sort(ITEM)
        bad = items.filter(pl.col("category").is_null() | pl.col("price").is_null() | (pl.col("price") <= 0)).height
        if bad:
            raise SchemaError("items need a category and a positive price", source=shop.name, column="price",
                              rows=bad)
        item_ids = items.get_column(ITEM).to_numpy().astype(str)
        names = sorted(items.get_column("category").unique().to_list())
        category = items.get_column("category").replace_strict(names, list(range(len(names))),
                                                               return_dtype=pl.Int64).to_numpy()
        users = shop.users.sort(USER)
        unknown = users.filter(~pl.col("segment").is_in(SEGMENT_NAMES)).height
        if unknown:
            raise SchemaError(f"segments must be among {list(SEGMENT_NAMES)}", source=shop.name,
                              column="segment", rows=unknown)
        segment = users.get_column("segment").replace_strict(
            list(SEGMENT_NAMES), list(range(len(SEGMENT_NAMES))), return_dtype=pl.Int64).to_numpy()
        representative = item_ids[np.unique(category, return_index=True)[1]]  # [C] one item per category
        category_affinity = np.asarray(truth.affinity(representative[:, None], representative[None, :]),
                                       dtype=np.float64)  # [C, C]
        _check_category_level(truth, item_ids, category, category_affinity, shop.name)
        return cls(
            item_ids=item_ids, category=category, category_names=names,
            price=items.get_column("price").to_numpy().astype(np.float64),
            category_affinity=category_affinity,
            user_ids=users.get_column(USER).to_numpy().astype(str), user_segment=segment,
            segment_purchase_prob=np.array([SEGMENTS[s].purchase_prob for s in SEGMENT_NAMES]),
            segment_price_sensitivity=np.array([SEGMENTS[s].price_sensitivity for s in SEGMENT_NAMES]),
        )

    def item_index(self, ids: np.ndarray | pl.Series) -> np.ndarray:
        """Item ids -> world indices; ids outside the catalog raise ``SchemaError`` (how many, a few)."""
        position, found = _lookup(self.item_ids, ids)
        if not found.all():
            unknown = np.asarray(ids).astype(str)[~found]
            raise SchemaError(f"item ids not in the world's catalog, e.g. {sorted(set(unknown))[:5]}",
                              column=ITEM, rows=int(unknown.size))
        return position

    def user_index(self, ids: np.ndarray | pl.Series) -> np.ndarray:
        """User ids -> world user indices (``SchemaError`` for unknown users)."""
        position, found = _lookup(self.user_ids, ids)
        if not found.all():
            raise SchemaError("user ids not in the world's user table", column=USER, rows=int((~found).sum()))
        return position

    def from_vocabulary(self, vocabulary: Vocabulary) -> np.ndarray:
        """``[len(vocabulary)]`` world index of each vocabulary index; -1 for padding, unknown and ids the
        world does not know."""
        mapping = np.full(len(vocabulary), -1, dtype=np.int64)
        position, found = _lookup(self.item_ids, vocabulary.ids)
        mapping[FIRST_INDEX:][found] = position[found]
        return mapping

    def to_vocabulary(self, vocabulary: Vocabulary) -> np.ndarray:
        """``[N]`` vocabulary index of each world item (the unknown index, 1, for items it lacks)."""
        mapping = np.ones(self.num_items, dtype=np.int64)
        known = self.from_vocabulary(vocabulary)
        rows = np.flatnonzero(known >= 0)
        mapping[known[rows]] = rows
        return mapping


def _lookup(sorted_ids: np.ndarray, ids) -> tuple[np.ndarray, np.ndarray]:
    """``(position, found)`` of ``ids`` in the sorted id array (position is meaningless where not found)."""
    ids = np.asarray(ids).astype(str)
    if sorted_ids.size == 0:
        return np.zeros(ids.shape, dtype=np.int64), np.zeros(ids.shape, dtype=bool)
    position = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
    return position, sorted_ids[position] == ids


def _check_category_level(truth, item_ids: np.ndarray, category: np.ndarray, table: np.ndarray, source: str,
                          pairs: int = 10_000) -> None:
    """Raise ``SchemaError`` unless the ground truth's affinity of a seeded sample of item pairs is the
    ``[C, C]`` table's (the world stores affinity per category pair)."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, item_ids.size, pairs), rng.integers(0, item_ids.size, pairs)
    differs = int((np.abs(np.asarray(truth.affinity(item_ids[a], item_ids[b])) - table[category[a], category[b]])
                   > 1e-12).sum())
    if differs:
        raise SchemaError("the ground truth's affinity depends on more than the two items' categories; the "
                          "simulator stores it per category pair", source=source, column="category", rows=differs)
