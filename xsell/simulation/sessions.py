"""Simulated shopping sessions: the moment a customer adds an item to the cart, with what they did before.

Sessions are drawn (seeded, with replacement) from the trigger events of a shop's log, so their histories,
customers and anchors follow the shop's own distribution; drawing is vectorised (one gather of ``[S, L]``
positions, no loop over sessions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from xsell.data.interactions import Interactions
from xsell.data.schema import DEFAULT_EVENT_TYPES, EVENT, ITEM, PAD_INDEX, TIMESTAMP, USER
from xsell.errors import EmptyDataError, SchemaError
from xsell.simulation.world import ShopWorld

NO_ITEM = -1  # padding of histories and an empty recommendation slot, in world item indices


@dataclass(frozen=True)
class Sessions:
    """A batch of ``S`` sessions at a trigger point (all arrays numpy).

    Attributes:
        user: ``[S]`` world user index. segment: ``[S]`` segment index (``SEGMENT_NAMES``).
        anchor: ``[S]`` world index of the item just carted (the trigger; also the last history item).
        history: ``[S, L]`` world item indices, left-padded with ``NO_ITEM``, oldest first.
        events: ``[S, L]`` event-type indices of ``DEFAULT_EVENT_TYPES`` (0 = padding).
    """

    user: np.ndarray
    segment: np.ndarray
    anchor: np.ndarray
    history: np.ndarray
    events: np.ndarray

    def __len__(self) -> int:
        return int(self.anchor.size)

    def take(self, rows: np.ndarray | slice) -> Sessions:
        """The sessions at ``rows`` (an index array or a slice)."""
        return Sessions(self.user[rows], self.segment[rows], self.anchor[rows], self.history[rows],
                        self.events[rows])


def sample_sessions(shop: Interactions, world: ShopWorld, n: int, *, seed: int = 0, max_len: int = 20,
                    trigger: str = "cart") -> Sessions:
    """Draw ``n`` sessions at ``trigger`` events of ``shop.events`` (with replacement, seeded).

    Args:
        shop: the event log (any order: histories are read in time order per customer, ties in log order).
        world: the shop's :class:`ShopWorld` (maps ids to indices).
        n: number of sessions. seed: seeds ``np.random.default_rng``.
        max_len: history length kept (the trigger event is the last one).
        trigger: the event name at which a recommendation is shown.

    Raises ``SchemaError`` without an ``event`` column and ``EmptyDataError`` when no event is a ``trigger``.
    """
    if n < 1 or max_len < 1:
        raise ValueError(f"n and max_len must be at least 1, got n={n}, max_len={max_len}")
    if EVENT not in shop.events.columns:
        raise SchemaError("sessions are drawn at trigger events; the log has no event column",
                          source=shop.name, column=EVENT)
    events = shop.events.select(USER, ITEM, EVENT, TIMESTAMP).sort(USER, TIMESTAMP, maintain_order=True)
    user = world.user_index(events.get_column(USER))
    item = world.item_index(events.get_column(ITEM))
    code = events.select(DEFAULT_EVENT_TYPES.encode(pl.col(EVENT))).to_series().to_numpy().astype(np.int64)
    triggers = np.flatnonzero(events.get_column(EVENT).to_numpy() == trigger)
    if triggers.size == 0:
        raise EmptyDataError(f"no {trigger!r} events to draw sessions at", source=shop.name, column=EVENT)
    rng = np.random.default_rng(seed)
    row = triggers[rng.integers(0, triggers.size, n)]  # [S]
    window = row[:, None] + np.arange(-max_len + 1, 1)[None, :]  # [S, L] positions, newest last
    inside = (window >= 0) & (user[np.maximum(window, 0)] == user[row][:, None])  # same customer
    window = np.maximum(window, 0)
    return Sessions(
        user=user[row], segment=world.user_segment[user[row]], anchor=item[row],
        history=np.where(inside, item[window], NO_ITEM), events=np.where(inside, code[window], PAD_INDEX),
    )
