"""What the rules read about items: per-item-index tensors from the item table, and the event vocabulary.

Every tensor has one entry per item index of the item vocabulary (``[N]``; padding and the unknown item
included), so rules are elementwise operations on ``[B, N]`` score matrices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import Tensor

from xsell.data.prepared import PreparedData
from xsell.data.schema import DEFAULT_EVENT_TYPES, FIRST_INDEX, ITEM, EventTypes
from xsell.data.vocabulary import Vocabulary
from xsell.errors import SchemaError
from xsell.evaluation.beyond_accuracy import item_category_codes


@dataclass
class ItemCatalog:
    """An item table keyed by ``item_id``, aligned with an item vocabulary.

    Args:
        items: the item table (``item_id`` plus feature columns: category, price, stock flags, ...); items
            missing from it read as unknown (category -1, price NaN, flags False).
        item_vocab: the vocabulary the scores are indexed by.
        event_types: the event vocabulary of the histories (for rules that read event types).
        name: the table's source, used in error messages.

    Example::

        catalog = ItemCatalog(shop.items, prepared.item_vocab, prepared.event_types)
        catalog.codes("category")  # [N] int64, -1 where unknown
    """

    items: pl.DataFrame
    item_vocab: Vocabulary
    event_types: EventTypes = DEFAULT_EVENT_TYPES
    name: str = "item table"

    @classmethod
    def of(cls, prepared: PreparedData) -> ItemCatalog:
        """The catalog of prepared data (``datamodule.prepared``): its item table, vocabulary and events."""
        data = prepared.interactions
        if data.items is None:
            raise SchemaError("cross-sell rules need an item table, but the data set has none", source=data.name)
        return cls(data.items, prepared.item_vocab, prepared.event_types, name=data.name)

    @property
    def num_items(self) -> int:
        return len(self.item_vocab)

    def codes(self, column: str) -> Tensor:
        """``[N]`` int64 code of each item's value of a categorical column (-1: unknown or null)."""
        self._require(column)
        codes, _ = item_category_codes(self.items, self.item_vocab, column)
        return torch.from_numpy(codes)

    def values(self, column: str) -> Tensor:
        """``[N]`` float32 values of a numeric column (NaN: unknown or null)."""
        self._require(column)
        if not self.items.schema[column].is_numeric():
            raise SchemaError(f"column has type {self.items.schema[column]}, expected numbers",
                              source=self.name, column=column)
        return torch.from_numpy(self._by_index(pl.col(column).cast(pl.Float64), np.nan, np.float32))

    def flags(self, column: str) -> Tensor:
        """``[N]`` bool values of a boolean (or 0/1) column (False: unknown or null)."""
        self._require(column)
        dtype = self.items.schema[column]
        if dtype != pl.Boolean and not dtype.is_integer():
            raise SchemaError(f"column has type {dtype}, expected booleans", source=self.name, column=column)
        return torch.from_numpy(self._by_index(pl.col(column).cast(pl.Boolean), False, np.bool_))

    def mask_of(self, ids: Iterable[str]) -> Tensor:
        """``[N]`` bool, True at the indices of the given item ids (ids outside the vocabulary are ignored)."""
        mask = torch.zeros(self.num_items, dtype=torch.bool)
        indices = [self.item_vocab.index(str(i)) for i in ids]
        mask[[i for i in indices if i >= FIRST_INDEX]] = True
        return mask

    def event_indices(self, names: Iterable[str]) -> Tensor:
        """``[E]`` int64 event-type indices of behaviour names; an unknown name is a clear error."""
        index = self.event_types.index_of()
        names = list(names)
        unknown = [n for n in names if n not in index]
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {list(index)}")
        return torch.tensor([index[n] for n in names], dtype=torch.long)

    def _require(self, column: str) -> None:
        if column not in self.items.columns:
            raise SchemaError(f"no such column in the item table (columns: {self.items.columns})",
                              source=self.name, column=column)

    def _by_index(self, value: pl.Expr, missing: float | bool, dtype: type) -> np.ndarray:
        """``[N]`` numpy values of an expression over the item table, ``missing`` where there is none."""
        table = self.items.select(self.item_vocab.encode(pl.col(ITEM).cast(pl.String)).alias("_index"),
                                  value.alias("_value"))
        table = table.filter((pl.col("_index") >= FIRST_INDEX) & pl.col("_value").is_not_null())
        out = np.full(self.num_items, missing, dtype=dtype)
        out[table.get_column("_index").to_numpy()] = table.get_column("_value").to_numpy()
        return out
