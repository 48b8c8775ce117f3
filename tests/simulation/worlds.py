"""Worlds for the simulator's tests: a hand-made four-item shop whose answers are known by heart, a tiny
untrained SASRec over it, and a small seeded synthetic shop (built once per test session).

Hand-made world (segments: 0 frequent_buyer, 1 bargain_hunter, 2 browser):

item  category     price  affinity from the camera (item 0)
0     camera       400    -
1     memory_card   20    0.5
2     camera_bag    50    0.2
3     tent         200    0.0
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from xsell.data.interactions import Interactions
from xsell.data.synthetic import synthetic_shop
from xsell.data.vocabulary import Vocabulary
from xsell.models import SASRec
from xsell.simulation import Sessions, ShopWorld


def tiny_world() -> ShopWorld:
    affinity = np.zeros((4, 4))
    affinity[0, 1], affinity[0, 2] = 0.5, 0.2
    return ShopWorld(
        item_ids=np.array(["i0", "i1", "i2", "i3"]), category=np.array([0, 1, 2, 3]),
        category_names=["camera", "memory_card", "camera_bag", "tent"], price=np.array([400.0, 20.0, 50.0, 200.0]),
        category_affinity=affinity, user_ids=np.array(["u0", "u1", "u2"]), user_segment=np.array([0, 1, 2]),
        segment_purchase_prob=np.array([0.75, 0.55, 0.30]), segment_price_sensitivity=np.array([0.0, 1.0, -0.2]),
    )


def camera_sessions(n: int, segment: int = 0) -> Sessions:
    """``n`` sessions of user ``segment`` who just carted the camera after viewing the tent."""
    history = np.tile([[-1, 3, 0]], (n, 1))
    events = np.tile([[0, 2, 3]], (n, 1))
    full = np.full(n, segment)
    return Sessions(user=full, segment=full, anchor=np.zeros(n, dtype=np.int64), history=history, events=events)


@lru_cache(maxsize=1)
def small_shop() -> tuple[Interactions, ShopWorld]:
    """``synthetic_shop(20_000, seed=0)`` and its world (cached: build it once per test session)."""
    shop = synthetic_shop(20_000, seed=0)
    return shop, ShopWorld.from_shop(shop)


def tiny_model() -> tuple[SASRec, Vocabulary]:
    """An untrained SASRec over the tiny world's items (only the wiring is under test where it is used)."""
    torch.manual_seed(0)
    vocabulary = Vocabulary(["i3", "i2", "i1", "i0"])
    return SASRec(len(vocabulary), dim=8, layers=1, heads=1, dropout=0.0, max_len=4).eval(), vocabulary
