from __future__ import annotations

import numpy as np
import pytest

from xsell.data.interactions import Interactions
from xsell.errors import EmptyDataError, SchemaError
from xsell.simulation import NO_ITEM, sample_sessions

from .worlds import small_shop


def test_sessions_end_at_a_cart_of_the_anchor_by_the_same_customer():
    shop, world = small_shop()
    sessions = sample_sessions(shop, world, 500, seed=3, max_len=8)
    assert sessions.history.shape == (500, 8) and len(sessions) == 500
    assert np.array_equal(sessions.history[:, -1], sessions.anchor)
    assert (sessions.events[:, -1] == 3).all()  # cart: index 3 of DEFAULT_EVENT_TYPES (view 2, cart 3)
    assert np.array_equal(sessions.segment, world.user_segment[sessions.user])
    # Left padding: once a row has an item, every later position has one too.
    filled = sessions.history != NO_ITEM
    assert (np.diff(filled.astype(int), axis=1) >= 0).all() and ((sessions.events > 0) == filled).all()
    # Every history item was seen by that customer.
    events = shop.events
    user_items = set(zip(world.user_index(events["user_id"]), world.item_index(events["item_id"]), strict=True))
    rows, cols = np.nonzero(filled)
    assert all((sessions.user[r], sessions.history[r, c]) in user_items for r, c in zip(rows[:200], cols[:200],
                                                                                         strict=True))


def test_sessions_are_seeded():
    shop, world = small_shop()
    a, b = sample_sessions(shop, world, 100, seed=1), sample_sessions(shop, world, 100, seed=1)
    c = sample_sessions(shop, world, 100, seed=2)
    assert np.array_equal(a.history, b.history) and not np.array_equal(a.anchor, c.anchor)


def test_bad_logs_raise():
    shop, world = small_shop()
    with pytest.raises(SchemaError, match="event"):
        sample_sessions(Interactions(shop.events.drop("event"), shop.items, shop.users), world, 10)
    with pytest.raises(EmptyDataError, match="'return'"):
        sample_sessions(shop, world, 10, trigger="return")
    with pytest.raises(ValueError):
        sample_sessions(shop, world, 0)


def test_log_order_does_not_matter():
    shop, world = small_shop()
    shuffled = Interactions(shop.events.sample(fraction=1.0, shuffle=True, seed=0), shop.items, shop.users)
    a, b = sample_sessions(shop, world, 200, seed=5), sample_sessions(shuffled, world, 200, seed=5)
    assert np.array_equal(a.history, b.history) and np.array_equal(a.events, b.events)
