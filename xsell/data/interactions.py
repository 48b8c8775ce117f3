"""The one container every reader returns: an event log plus optional item and user feature tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from xsell.data.schema import ITEM, USER


@dataclass
class Interactions:
    """A behavioural data set.

    Attributes:
        events: one row per event with at least ``user_id``, ``item_id``, ``timestamp`` (plus ``event``,
            ``session_id`` and context columns when the source has them), in source order.
        items: item feature table keyed by ``item_id`` (categorical, numeric and token-list columns), or None.
        users: user feature table keyed by ``user_id``, or None.
        name: where the data came from (file path or generator name), used in messages.
        ground_truth: what a simulator planted (the synthetic shop's complement pairs, segments), or None.
        feedback: explicit feedback answers (see :mod:`xsell.data.feedback`), or None.
    """

    events: pl.DataFrame
    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
    name: str = "interactions"
    ground_truth: Any = field(default=None, repr=False)
    feedback: pl.DataFrame | None = field(default=None, repr=False)

    @property
    def num_events(self) -> int:
        return self.events.height

    @property
    def num_users(self) -> int:
        return self.events.get_column(USER).n_unique()

    @property
    def num_items(self) -> int:
        return self.events.get_column(ITEM).n_unique()

    def summary(self) -> dict[str, Any]:
        """Counts and density, the numbers a data card starts with."""
        users, items, events = self.num_users, self.num_items, self.num_events
        return {
            "name": self.name,
            "events": events,
            "users": users,
            "items": items,
            "density": events / max(users * items, 1),
            "events_per_user": events / max(users, 1),
            "columns": list(self.events.columns),
            "item_features": [] if self.items is None else [c for c in self.items.columns if c != ITEM],
            "user_features": [] if self.users is None else [c for c in self.users.columns if c != USER],
        }
