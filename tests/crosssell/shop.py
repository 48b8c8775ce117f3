"""A hand-made item table whose rule outcomes can be worked out on paper.

index  item  category  price  in_stock  promoted
2      jk1   jacket    100    yes       no
3      jk2   jacket    80     yes       yes
4      gl1   gloves    20     yes       no
5      gl2   gloves    35     no        yes
6      hat   hat       25     yes       no
7      sc1   scarf     (none) yes       no
(8      -    not in the table: unknown category, no price, not in stock)
"""

from __future__ import annotations

import polars as pl
import torch

from xsell.crosssell.catalog import ItemCatalog
from xsell.data.vocabulary import Vocabulary

IDS = ["jk1", "jk2", "gl1", "gl2", "hat", "sc1", "ghost"]
JK1, JK2, GL1, GL2, HAT, SC1, GHOST = range(2, 9)
N = 9
ITEMS = pl.DataFrame({
    "item_id": IDS[:-1],
    "category": ["jacket", "jacket", "gloves", "gloves", "hat", "scarf"],
    "price": [100.0, 80.0, 20.0, 35.0, 25.0, None],
    "in_stock": [True, True, True, False, True, True],
    "promoted": [False, True, False, True, False, False],
})


def catalog() -> ItemCatalog:
    return ItemCatalog(ITEMS, Vocabulary(IDS, name="item_id"))


def scores(*rows: list[float]) -> torch.Tensor:
    """``[B, N]`` scores; padding and unknown get 0."""
    return torch.tensor([[0.0, 0.0, *row] for row in rows])


FLAT = [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # jk1 > jk2 > gl1 > gl2 > hat > sc1 > ghost


def history(*items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One left-padded history row (width 4) and its events (all views)."""
    row = [0] * (4 - len(items)) + list(items)
    items_ = torch.tensor([row])
    return items_, torch.where(items_ > 0, 2, 0)
