"""A hand-made data set whose test targets, histories and segments are known by heart.

Leave-one-out: each user's last event is the test target, the one before it the validation target.

user  events (item, event)                                   test target  history  last event  user group
a     i0 view, i1 cart, i9 purchase                           i9 unknown   2        cart        x
b     i0 view, i1 view, i2 view, i3 cart                      i3           3        view        x
c     i0 .. i5 (views)                                        i5           5        view        y
d     i0..i6, i0, i1, i2 (views), i7 cart, i6 purchase         i6           11       cart        (missing)
e     i0 view, i1 view (too short: training only)             -            -        -           x

Each event's device is ``mobile`` at even positions, ``desktop`` at odd ones: the test targets of a (position
2) is on mobile, those of b (3), c (5) and d (11) on desktop.

i9 never occurs in training (it is a's test target only), so a's target is unknown and always misses.
"""

from __future__ import annotations

import polars as pl
import torch

from xsell.data.datamodule import SequenceDataModule
from xsell.data.interactions import Interactions
from xsell.data.prepared import PreparedData, prepare

_HISTORIES = {
    "a": [("i0", "view"), ("i1", "cart"), ("i9", "purchase")],
    "b": [("i0", "view"), ("i1", "view"), ("i2", "view"), ("i3", "cart")],
    "c": [(f"i{i}", "view") for i in range(6)],
    "d": [(f"i{i}", "view") for i in (0, 1, 2, 3, 4, 5, 6, 0, 1, 2)] + [("i7", "cart"), ("i6", "purchase")],
    "e": [("i0", "view"), ("i1", "view")],
}
EVENTS = pl.DataFrame(
    [{"user_id": user, "item_id": item, "timestamp": 10 * t, "event": event,
      "device": "mobile" if t % 2 == 0 else "desktop"}
     for user, history in _HISTORIES.items() for t, (item, event) in enumerate(history)]
)
ITEMS = pl.DataFrame({"item_id": [f"i{i}" for i in range(10)], "category": list("aabbccddee")})
USERS = pl.DataFrame({"user_id": ["a", "b", "c", "e"], "group": ["x", "x", "y", "x"]})


def tiny_module(**options) -> SequenceDataModule:
    dm = SequenceDataModule(Interactions(EVENTS, items=ITEMS, users=USERS, name="tiny"), max_len=5,
                            eval_batch_size=2, **options)
    dm.setup()
    return dm


def tiny_data(**options) -> PreparedData:
    """The data of :func:`tiny_module`, prepared without a data module."""
    return prepare(Interactions(EVENTS, items=ITEMS, users=USERS, name="tiny"), max_len=5, **options)


def oracle(num_items: int):
    """A scorer that gives the target 1 and every other item 0: rank 1 for every known target."""
    return lambda batch: torch.nn.functional.one_hot(batch.target, num_items).float()
