"""The synthetic shop: a seeded simulator of an online shop with planted cross-sell structure.

It is the library's embedded default data set: tests and benchmarks check that models learn what it plants.
Everything is vectorised with numpy (no loop over events, sessions or users), so 10 million events take
seconds.

The generative story
--------------------
1. **Catalog.** Named categories (camera, memory_card, phone, phone_case, ...; generated names beyond
   them) with a global popularity each. Every category gets a few brands (drawn from one brand pool, so
   some brands span categories) and a share of the items. Prices are log-normal around a category median,
   scaled by a brand premium; ``price_bucket`` is the price quintile *within the category* (``p0`` cheapest
   .. ``p4`` dearest). Items are Zipf-popular within their category. ``title_tokens`` hold the category
   words, the brand, a category-typical adjective, a hashed model code and ``budget``/``deluxe`` for the
   cheapest/dearest quintile, so a content tower can recover category, brand and price level.
2. **Users.** Each user has a segment (``frequent_buyer``, ``bargain_hunter``, ``browser``; see
   ``SEGMENTS``), a preferred device, three favourite categories and a log-normal activity level. The
   ``n_events`` budget is split across users in proportion to activity (every user gets at least one event),
   which fixes each user's exact event count.
3. **Episodes.** A user's history is a chain of *blocks*. A block is one browse episode of a single category
   (a favourite with probability ``favorite_prob``, else drawn by global popularity): ``1 + Poisson`` views
   of items of that category (segment-dependent item choice: bargain hunters prefer cheap quintiles), then
   with the segment's probability a cart of one of the viewed items, then possibly a purchase of that item.
   When the purchase is of an *antecedent* category (see ``COMPLEMENTS``), with probability
   ``complement_prob`` a *follow-up* episode of a consequent category comes next (chosen by the pair
   weights): right after the purchase, or, with probability ``complement_delay``, after the user's next
   block. Follow-ups never trigger follow-ups (no category is both antecedent and consequent).
4. **Sessions and clock.** A follow-up stays in the purchase's session with probability
   ``complement_same_session``; any other episode starts a new session with probability 0.7. Events in a
   session are seconds to minutes apart (at most 20 minutes); consecutive sessions of a user are at least
   one hour apart (last event to first event), so a 30-minute inactivity gap recovers the sessions exactly.
   Session starts spread each user over part of ``days`` days from ``start``, following a diurnal profile
   (busy evenings, quiet nights); ``time_of_day`` is read off the timestamp hour (UTC). The session device
   is the user's preferred one with probability 0.75, else drawn from a time-of-day-dependent mix.
   By default the context does not change what is bought. With ``context_effect > 0`` it does: every
   (device, time of day) cell has a category of its own (drawn among categories that trigger no
   follow-up), and a browse episode that triggers no follow-up is, with probability ``context_effect``,
   about its session's cell category instead (its items redrawn; a second random stream, so the default
   log is unchanged).
5. **Exact size.** Blocks are drawn until every user's budget is covered; each user's history is then cut
   at the budget (only the tail of the last episode can be lost, so the funnel order always holds).

``ShopGroundTruth`` records what was planted: the complement pairs with their probabilities and the realised
lag, and the item -> category and user -> segment maps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from xsell.data.interactions import Interactions
from xsell.data.schema import EVENT, ITEM, SESSION, TIMESTAMP, USER

EVENT_NAMES = ("view", "cart", "purchase")
SEGMENT_NAMES = ("frequent_buyer", "bargain_hunter", "browser")
DEVICE_NAMES = ("mobile", "desktop", "tablet")
TIME_OF_DAY_NAMES = ("night", "morning", "afternoon", "evening")  # hours 0-5, 6-11, 12-17, 18-23 (UTC)
PRICE_BUCKETS = 5


@dataclass(frozen=True)
class SegmentBehaviour:
    """How one user segment shops.

    Args:
        activity: relative share of the event budget a user of this segment gets (before log-normal noise).
        extra_views: mean number of views per episode beyond the first (Poisson).
        cart_prob: probability that an episode ends with a cart of a viewed item.
        purchase_prob: probability that a cart is followed by the purchase of that item.
        price_sensitivity: item choice weight is multiplied by ``exp(-price_sensitivity * quintile)``.
        device_probs: preferred-device distribution over ``DEVICE_NAMES``.
    """

    activity: float
    extra_views: float
    cart_prob: float
    purchase_prob: float
    price_sensitivity: float
    device_probs: tuple[float, float, float]


SEGMENTS: dict[str, SegmentBehaviour] = {
    "frequent_buyer": SegmentBehaviour(3.0, 1.5, 0.55, 0.75, 0.0, (0.45, 0.45, 0.10)),
    "bargain_hunter": SegmentBehaviour(1.5, 3.5, 0.35, 0.55, 1.0, (0.60, 0.30, 0.10)),
    "browser": SegmentBehaviour(1.0, 2.5, 0.08, 0.30, -0.2, (0.65, 0.20, 0.15)),
}
DEFAULT_SEGMENT_MIX: dict[str, float] = {"frequent_buyer": 0.2, "bargain_hunter": 0.3, "browser": 0.5}

# Named categories with a median price; antecedent/consequent pairs come first so that a smaller
# ``n_categories`` keeps whole pairs.
NAMED_CATEGORIES: dict[str, float] = {
    "camera": 450.0, "memory_card": 25.0, "phone": 650.0, "phone_case": 18.0,
    "laptop": 1100.0, "laptop_bag": 45.0, "jacket": 130.0, "gloves": 28.0,
    "printer": 160.0, "ink": 35.0, "coffee_machine": 280.0, "coffee_beans": 14.0,
    "tent": 220.0, "sleeping_bag": 75.0, "tv": 700.0, "soundbar": 220.0,
    "game_console": 450.0, "video_game": 55.0, "running_shoes": 110.0, "sports_socks": 12.0,
    "bike": 800.0, "bike_helmet": 60.0, "books": 18.0, "headphones": 120.0,
    "toys": 30.0, "cosmetics": 22.0, "kitchenware": 40.0, "camera_bag": 55.0,
    "screen_protector": 12.0, "mouse": 30.0, "scarf": 25.0, "plants": 20.0,
}

# (antecedent, consequent, weight): after a purchase of the antecedent, the follow-up consequent is drawn
# with probability proportional to the weight among the antecedent's consequents.
COMPLEMENTS: tuple[tuple[str, str, float], ...] = (
    ("camera", "memory_card", 0.7), ("camera", "camera_bag", 0.3),
    ("phone", "phone_case", 0.6), ("phone", "screen_protector", 0.4),
    ("laptop", "laptop_bag", 0.6), ("laptop", "mouse", 0.4),
    ("jacket", "gloves", 0.6), ("jacket", "scarf", 0.4),
    ("printer", "ink", 1.0), ("coffee_machine", "coffee_beans", 1.0),
    ("tent", "sleeping_bag", 1.0), ("tv", "soundbar", 1.0),
    ("game_console", "video_game", 1.0), ("running_shoes", "sports_socks", 1.0),
    ("bike", "bike_helmet", 1.0),
)

_ADJECTIVES = (
    "compact", "pro", "wireless", "classic", "ultra", "lite", "eco", "smart", "mini", "max",
    "sport", "travel", "digital", "organic", "waterproof", "vintage", "urban", "family",
)
# Relative shopping activity per hour of day (UTC), night quiet and evening busy.
_HOURLY_ACTIVITY = np.array([
    0.30, 0.20, 0.15, 0.10, 0.10, 0.15, 0.30, 0.60, 0.80, 0.90, 1.00, 1.00,
    1.10, 1.00, 0.95, 0.95, 1.00, 1.10, 1.30, 1.50, 1.60, 1.50, 1.10, 0.60,
])
# Device mix of sessions that do not use the preferred device, per time of day (night..evening).
_DEVICE_BY_TIME_OF_DAY = np.array([[0.80, 0.10, 0.10], [0.40, 0.50, 0.10], [0.40, 0.50, 0.10],
                                   [0.60, 0.20, 0.20]])
_FAVORITES = 3
_NEW_SESSION_PROB = 0.7
_DEVICE_LOYALTY = 0.75
_FOLLOWUP_EXTRA_VIEWS = 1.5
_FOLLOWUP_CART_BOOST = 1.5
_MAX_IN_SESSION_GAP = 1200  # seconds
_MIN_SESSION_GAP = 3600  # seconds between the last event of a session and the first of the next
_DAY = 86_400


@dataclass(frozen=True, eq=False)
class ShopGroundTruth:
    """What ``synthetic_shop`` planted.

    Attributes:
        complements: one row per planted pair: ``antecedent`` and ``consequent`` category, ``probability``
            that a purchase of the antecedent is followed by an episode of the consequent, and the realised
            ``mean_lag_events`` (events from the purchase to the first follow-up event, 1 = the very next
            event; null when none survived) and ``n_planted`` (follow-up episodes in the log).
        item_category: ``item_id`` -> ``category`` for every item of the catalog.
        user_segment: ``user_id`` -> ``segment`` for every user.
        params: the generator's arguments after defaults were resolved.
    """

    complements: pl.DataFrame
    item_category: pl.DataFrame
    user_segment: pl.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    def complement_categories(self, category: str) -> list[str]:
        """Consequent categories planted for ``category``, most probable first (empty if none)."""
        rows = self.complements.filter(pl.col("antecedent") == category).sort("probability", descending=True)
        return rows.get_column("consequent").to_list()

    def affinity(self, anchor_items: Any, recommended_items: Any) -> np.ndarray:
        """Ground-truth affinity of recommending ``recommended_items`` to a customer whose anchor is ``anchor_items``.

        The affinity of item ``j`` for anchor ``i`` is the planted probability that a purchase of ``i``'s
        category is followed by an episode of ``j``'s category (``complements.probability``, i.e.
        ``complement_prob`` times the pair's share), so it lies in [0, 1]; same-category and unrelated items
        score 0. Only categories matter: every item of a complement category is equally helpful.

        Args:
            anchor_items: item ids (a string, a sequence or an array; e.g. the item just bought or carted).
            recommended_items: item ids broadcastable against ``anchor_items`` (``[N]`` against ``[N]``, or
                ``[N, K]`` against ``[N, 1]`` for top-K lists).

        Returns:
            float64 array of the broadcast shape, values in [0, 1].

        Raises:
            KeyError: when an id is not in the catalog (naming how many and a few of them).

        Example::

            truth.affinity([camera, camera], [memory_card, tent])  # array([0.49, 0.  ]) (item ids of those)
        """
        anchor = self._category_index(anchor_items)
        recommended = self._category_index(recommended_items)
        return self._affinity_matrix[anchor, recommended]

    @cached_property
    def _category_lookup(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Sorted item ids, their category index, and the category names."""
        frame = self.item_category.sort(ITEM)
        names = sorted(set(frame.get_column("category").to_list())
                       | set(self.complements.get_column("antecedent").to_list())
                       | set(self.complements.get_column("consequent").to_list()))
        codes = frame.get_column("category").replace_strict(names, list(range(len(names))), return_dtype=pl.Int64)
        return frame.get_column(ITEM).to_numpy().astype(str), codes.to_numpy(), names

    @cached_property
    def _affinity_matrix(self) -> np.ndarray:
        """``[C, C]`` planted probability of antecedent category (row) -> consequent category (column)."""
        names = self._category_lookup[2]
        index = {name: k for k, name in enumerate(names)}
        matrix = np.zeros((len(names), len(names)))
        rows = [index[a] for a in self.complements.get_column("antecedent").to_list()]
        columns = [index[c] for c in self.complements.get_column("consequent").to_list()]
        matrix[rows, columns] = self.complements.get_column("probability").to_numpy()
        return matrix

    def _category_index(self, items: Any) -> np.ndarray:
        ids, codes, _ = self._category_lookup
        items = np.asarray(items).astype(str)
        position = np.minimum(np.searchsorted(ids, items), ids.size - 1)
        unknown = ids[position] != items
        if unknown.any():
            examples = sorted(set(items[unknown].ravel().tolist()))[:5]
            raise KeyError(f"{int(unknown.sum())} item id(s) not in the shop's catalog, e.g. {examples}")
        return codes[position]


def synthetic_shop(
    n_events: int = 100_000,
    seed: int = 0,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    n_categories: int | None = None,
    segment_mix: Mapping[str, float] | None = None,
    complement_prob: float = 0.7,
    complement_same_session: float = 0.4,
    complement_delay: float = 0.2,
    favorite_prob: float = 0.5,
    popularity_exponent: float = 1.0,
    start: str = "2024-01-01",
    days: int = 182,
    context_effect: float = 0.0,
) -> Interactions:
    """Simulate an online shop with planted complementary categories (see the module docstring).

    Args:
        n_events: exact number of events in the log.
        seed: seed of the only random generator used; same seed and arguments give identical frames.
        n_users: number of users (each has at least one event); default ``max(1, n_events // 50)``.
        n_items: catalog size; default ``max(200, 8 * sqrt(n_events))`` (sub-linear growth).
        n_categories: number of categories; default the 32 named ones, more get generated names.
        segment_mix: relative weights of ``SEGMENT_NAMES``; default ``DEFAULT_SEGMENT_MIX``.
        complement_prob: probability that a purchase of an antecedent category triggers a follow-up.
        complement_same_session: probability that a follow-up stays in the purchase's session.
        complement_delay: probability that a follow-up comes after the user's next episode, not right away.
        favorite_prob: probability that an episode is about one of the user's favourite categories.
        popularity_exponent: Zipf exponent of item popularity within a category.
        start: first day (ISO date, UTC midnight) of the simulated period.
        days: length of the period over which users' sessions are spread (the heaviest users spill over).
        context_effect: probability that a browse episode (one that triggers no follow-up) is about the
            category of its session's (device, time of day) cell; 0 (default): context changes nothing.

    Returns:
        ``Interactions`` with ``events`` (``user_id``, ``item_id``, ``timestamp``, ``event``, ``session_id``,
        ``device``, ``time_of_day``; ordered by user then time), ``items`` (``item_id``, ``category``,
        ``brand``, ``price``, ``price_bucket``, ``title_tokens``), ``users`` (``user_id``, ``segment``,
        ``preferred_device``) and a ``ShopGroundTruth``.

    Example::

        shop = synthetic_shop(20_000, seed=1)
        shop.ground_truth.complement_categories("camera")  # ['memory_card', 'camera_bag']
    """
    n_users = max(1, n_events // 50) if n_users is None else n_users
    n_items = max(200, round(8 * math.sqrt(n_events))) if n_items is None else n_items
    n_categories = len(NAMED_CATEGORIES) if n_categories is None else n_categories
    mix = _segment_weights(DEFAULT_SEGMENT_MIX if segment_mix is None else segment_mix)
    _check_arguments(n_events, n_users, n_items, n_categories, days,
                     complement_prob=complement_prob, complement_same_session=complement_same_session,
                     complement_delay=complement_delay, favorite_prob=favorite_prob)
    params = {
        "n_events": n_events, "seed": seed, "n_users": n_users, "n_items": n_items,
        "n_categories": n_categories, "segment_mix": dict(zip(SEGMENT_NAMES, mix.tolist(), strict=True)),
        "complement_prob": complement_prob, "complement_same_session": complement_same_session,
        "complement_delay": complement_delay, "favorite_prob": favorite_prob,
        "popularity_exponent": popularity_exponent, "start": start, "days": days,
        "context_effect": context_effect,
    }
    if not 0.0 <= context_effect <= 1.0:
        raise ValueError(f"context_effect must be a probability in [0, 1], got {context_effect}")
    rng = np.random.default_rng(seed)
    catalog = _make_catalog(rng, n_items, n_categories, popularity_exponent)
    users = _make_users(rng, n_users, mix, catalog.category_weights)
    budget = _split_budget(n_events, users.activity)
    blocks = _draw_blocks(rng, users, budget, catalog, complement_prob, complement_delay,
                          complement_same_session, favorite_prob)
    episodes = _order_episodes(blocks, budget)
    events = _expand_events(rng, episodes, users, catalog, n_events)
    clock = _make_clock(rng, episodes, events, users, days)
    if context_effect > 0:
        events, cells = _apply_context(np.random.default_rng([seed, 1]), context_effect, episodes, events, users,
                                       catalog, clock)
        params["context_categories"] = {f"{DEVICE_NAMES[d]}/{TIME_OF_DAY_NAMES[t]}": catalog.names[cells[d, t]]
                                        for d in range(len(DEVICE_NAMES)) for t in range(len(TIME_OF_DAY_NAMES))}

    start_ts = int(datetime.combine(date.fromisoformat(start), datetime.min.time(), timezone.utc).timestamp())
    user_ids = _ids("u", n_users)
    item_ids = _ids("i", n_items).gather(catalog.id_order)
    event_frame = pl.DataFrame({
        USER: user_ids.gather(episodes.user[events.episode]),
        ITEM: item_ids.gather(events.item),
        TIMESTAMP: pl.Series(clock.timestamp + start_ts, dtype=pl.Int64),
        EVENT: pl.Series(EVENT_NAMES).gather(events.code),
        SESSION: _ids("s", clock.n_sessions).gather(clock.session),
        "device": pl.Series(DEVICE_NAMES).gather(clock.device),
        "time_of_day": pl.Series(TIME_OF_DAY_NAMES).gather(clock.time_of_day),
    })
    item_frame = _item_frame(catalog, item_ids)
    user_frame = pl.DataFrame({
        USER: user_ids,
        "segment": pl.Series(SEGMENT_NAMES).gather(users.segment),
        "preferred_device": pl.Series(DEVICE_NAMES).gather(users.device),
    })
    truth = ShopGroundTruth(
        complements=_complement_table(catalog, episodes, complement_prob),
        item_category=item_frame.select(ITEM, "category"),
        user_segment=user_frame.select(USER, "segment"),
        params=params,
    )
    return Interactions(events=event_frame, items=item_frame, users=user_frame,
                        name=f"synthetic_shop(n_events={n_events}, seed={seed})", ground_truth=truth)


# --------------------------------------------------------------------------------------------- catalog


@dataclass
class _Catalog:
    names: list[str]  # category names
    category_weights: np.ndarray  # (C,) global popularity, sums to 1
    item_category: np.ndarray  # (I,) items are sorted by category
    item_brand: np.ndarray  # (I,) index into brand_names
    brand_names: list[str]
    price: np.ndarray  # (I,)
    bucket: np.ndarray  # (I,) price quintile within category
    adjective: np.ndarray  # (I,) index into _ADJECTIVES
    code: np.ndarray  # (I,) model-code token
    id_order: np.ndarray  # (I,) item i is called item_ids[id_order[i]] (ids do not reveal the category)
    choice_table: np.ndarray  # (S * I,) per segment, category block c spans (s * C + c, s * C + c + 1]
    pair_antecedent: np.ndarray  # (P,) sorted
    pair_consequent: np.ndarray  # (P,)
    pair_probability: np.ndarray  # (P,) within antecedent, sums to 1
    pair_table: np.ndarray  # (P,) antecedent block a spans (a, a + 1]


def _make_catalog(rng: np.random.Generator, n_items: int, n_categories: int, exponent: float) -> _Catalog:
    named = list(NAMED_CATEGORIES)
    names = named[:n_categories] + [f"category_{c:02d}" for c in range(len(named), n_categories)]
    generated_median = np.exp(rng.uniform(np.log(10.0), np.log(500.0), n_categories))
    log_median = np.log([NAMED_CATEGORIES.get(name, m) for name, m in zip(names, generated_median, strict=True)])
    weights = np.maximum(rng.gamma(4.0, size=n_categories), 1.5)  # popular and niche, none negligible
    weights /= weights.sum()

    # Items per category: at least two (one if the catalog is that small), the rest ~ sqrt(popularity).
    floor = 2 if n_items >= 2 * n_categories else 1
    share = np.sqrt(weights) / np.sqrt(weights).sum()
    sizes = floor + rng.multinomial(n_items - floor * n_categories, share)
    item_category = np.repeat(np.arange(n_categories), sizes)
    cat_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = _rank_within(rng.random(n_items), item_category, cat_start)  # random popularity order
    popularity = 1.0 / (rank + 1.0) ** exponent

    # Brands: a shared pool, 3-8 per category, Zipf-sized within the category.
    n_pool = 4 * n_categories
    brand_names = _brand_names(rng, n_pool)
    pool_weight = rng.pareto(1.5, n_pool) + 1.0
    brands_per_cat = [rng.choice(n_pool, size=int(rng.integers(3, 9)), replace=False, p=pool_weight / pool_weight.sum())
                      for _ in range(n_categories)]
    brand_rank = np.minimum(rng.zipf(2.0, n_items) - 1, np.array([len(b) for b in brands_per_cat])[item_category] - 1)
    brand_table = np.full((n_categories, 8), -1)
    for c, brands in enumerate(brands_per_cat):
        brand_table[c, : len(brands)] = brands
    item_brand = brand_table[item_category, brand_rank]
    premium = rng.lognormal(0.0, 0.3, n_pool)

    price = np.exp(log_median[item_category] + rng.normal(0.0, 0.35, n_items)) * premium[item_brand]
    price = np.maximum(np.round(price) - 0.01, 0.99)
    bucket = (_rank_within(price, item_category, cat_start) * PRICE_BUCKETS // sizes[item_category]).astype(np.int8)
    adjective = rng.choice(len(_ADJECTIVES), size=(n_categories, 3))[item_category, rng.integers(0, 3, n_items)]

    segment_sensitivity = np.array([SEGMENTS[s].price_sensitivity for s in SEGMENT_NAMES])
    item_weight = popularity[None, :] * np.exp(-segment_sensitivity[:, None] * bucket[None, :])  # (S, I)
    choice_table = _block_table(item_weight, item_category, cat_start, sizes, n_categories)

    lookup = {name: c for c, name in enumerate(names)}
    pairs = [(lookup[a], lookup[b], w) for a, b, w in COMPLEMENTS if a in lookup and b in lookup]
    pair_antecedent = np.array([p[0] for p in pairs], dtype=np.int64)
    pair_consequent = np.array([p[1] for p in pairs], dtype=np.int64)
    pair_weight = np.array([p[2] for p in pairs], dtype=np.float64)
    order = np.argsort(pair_antecedent, kind="stable")
    pair_antecedent, pair_consequent, pair_weight = pair_antecedent[order], pair_consequent[order], pair_weight[order]
    pair_total = np.bincount(pair_antecedent, weights=pair_weight, minlength=n_categories)
    pair_probability = pair_weight / pair_total[pair_antecedent] if pairs else pair_weight
    pair_table = pair_antecedent + _within_cumsum(pair_probability, pair_antecedent)

    return _Catalog(
        names=names, category_weights=weights, item_category=item_category, item_brand=item_brand,
        brand_names=brand_names, price=price, bucket=bucket, adjective=adjective,
        code=rng.integers(0, 36**5, n_items), id_order=rng.permutation(n_items), choice_table=choice_table,
        pair_antecedent=pair_antecedent, pair_consequent=pair_consequent, pair_probability=pair_probability,
        pair_table=pair_table,
    )


def _block_table(weight: np.ndarray, item_category: np.ndarray, cat_start: np.ndarray, sizes: np.ndarray,
                 n_categories: int) -> np.ndarray:
    """Flattened inverse-CDF table: row s, category c occupies the interval ``(s * C + c, s * C + c + 1]``."""
    within = np.cumsum(weight, axis=1)
    before = np.concatenate([np.zeros((weight.shape[0], 1)), within], axis=1)[:, cat_start]  # (S, C)
    total = within[:, cat_start + sizes - 1] - before
    within = (within - before[:, item_category]) / total[:, item_category]
    within[:, cat_start + sizes - 1] = 1.0  # exact block ends, whatever the rounding
    offset = np.arange(weight.shape[0])[:, None] * n_categories + item_category[None, :]
    return (offset + within).ravel()


def _within_cumsum(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of ``values`` restarting at each run of equal (sorted) ``group``."""
    if values.size == 0:
        return values
    total = np.cumsum(values)
    starts = _run_starts(group)
    return total - (total - values)[starts][np.cumsum(starts) - 1]


def _rank_within(key: np.ndarray, group: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Rank (0-based) of each ``key`` within its group; groups are contiguous and sorted."""
    order = np.lexsort((key, group))
    rank = np.empty(key.size, dtype=np.int64)
    rank[order] = np.arange(key.size) - group_start[group[order]]
    return rank


def _brand_names(rng: np.random.Generator, n: int) -> list[str]:
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    picks = rng.choice(len(syllables) ** 3, size=n, replace=False)
    return [
        (syllables[p // len(syllables) ** 2] + syllables[p // len(syllables) % len(syllables)]
         + syllables[p % len(syllables)]).capitalize()
        for p in picks
    ]


def _item_frame(catalog: _Catalog, item_ids: pl.Series) -> pl.DataFrame:
    digits = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    places = 36 ** np.arange(4, -1, -1)
    code = digits[(catalog.code[:, None] // places) % 36].view("S5").ravel().astype(str)
    category = pl.Series(catalog.names).gather(catalog.item_category)
    brand = pl.Series(catalog.brand_names).gather(catalog.item_brand)
    frame = pl.DataFrame({
        ITEM: item_ids,
        "category": category,
        "brand": brand,
        "price": pl.Series(catalog.price, dtype=pl.Float64),
        "price_bucket": pl.Series([f"p{b}" for b in range(PRICE_BUCKETS)]).gather(catalog.bucket),
        "_adjective": pl.Series(_ADJECTIVES).gather(catalog.adjective),
        "_code": pl.Series(np.char.add("x", code)),
    })
    price_word = (pl.when(pl.col("price_bucket") == "p0").then(pl.lit("budget"))
                  .when(pl.col("price_bucket") == f"p{PRICE_BUCKETS - 1}").then(pl.lit("deluxe")))
    tokens = pl.concat_list(pl.col("category").str.split("_"), pl.col("brand").str.to_lowercase(),
                            "_adjective", "_code", price_word).list.drop_nulls()
    return frame.with_columns(tokens.alias("title_tokens")).drop("_adjective", "_code").sort(ITEM)


# ----------------------------------------------------------------------------------------------- users


@dataclass
class _Users:
    segment: np.ndarray  # (U,) index into SEGMENT_NAMES
    device: np.ndarray  # (U,) preferred device
    favorites: np.ndarray  # (U, _FAVORITES) category indices
    activity: np.ndarray  # (U,)
    span: np.ndarray  # (U,) share of the period over which the user's sessions spread
    first: np.ndarray  # (U,) where in the remaining period the user starts, as a share


def _make_users(rng: np.random.Generator, n_users: int, mix: np.ndarray, category_weights: np.ndarray) -> _Users:
    segment = rng.choice(len(SEGMENT_NAMES), size=n_users, p=mix).astype(np.int8)
    device_cdf = np.cumsum([SEGMENTS[s].device_probs for s in SEGMENT_NAMES], axis=1)
    device = (rng.random(n_users)[:, None] > device_cdf[segment]).sum(axis=1).clip(0, 2).astype(np.int8)
    favorites = _sample(rng, np.cumsum(category_weights), n_users * _FAVORITES).reshape(n_users, _FAVORITES)
    activity_by_segment = np.array([SEGMENTS[s].activity for s in SEGMENT_NAMES])
    activity = activity_by_segment[segment] * rng.lognormal(0.0, 1.0, n_users)
    return _Users(segment=segment, device=device, favorites=favorites, activity=activity,
                  span=rng.uniform(0.2, 1.0, n_users), first=rng.random(n_users))


def _split_budget(n_events: int, activity: np.ndarray) -> np.ndarray:
    """Events per user: one each, the rest in proportion to activity (largest remainders), summing exactly."""
    rest = n_events - activity.size
    exact = activity / activity.sum() * rest
    budget = np.floor(exact).astype(np.int64)
    short = rest - int(budget.sum())
    if short:
        budget[np.argpartition(budget - exact, short - 1)[:short]] += 1
    return budget + 1


# -------------------------------------------------------------------------------------------- episodes


@dataclass
class _Blocks:
    """One row per block (a browse episode and its optional complement follow-up), sorted by user."""

    user: np.ndarray
    category: np.ndarray
    views: np.ndarray
    outcome: np.ndarray  # 0 views only, 1 cart, 2 cart + purchase
    new_session: np.ndarray
    trigger: np.ndarray  # the purchase triggers a follow-up
    f_category: np.ndarray  # follow-up fields, meaningful where trigger
    f_views: np.ndarray
    f_outcome: np.ndarray
    f_delayed: np.ndarray
    f_new_session: np.ndarray

    @property
    def length(self) -> np.ndarray:
        return self.views + self.outcome + np.where(self.trigger, self.f_views + self.f_outcome, 0)


def _draw_blocks(rng: np.random.Generator, users: _Users, budget: np.ndarray, catalog: _Catalog,
                 complement_prob: float, complement_delay: float, complement_same_session: float,
                 favorite_prob: float) -> _Blocks:
    """Draw blocks per user until each user's event budget is covered (a few vectorised rounds)."""
    behaviour = [SEGMENTS[s] for s in SEGMENT_NAMES]
    extra_views = np.array([b.extra_views for b in behaviour])
    cart_prob = np.array([b.cart_prob for b in behaviour])
    purchase_prob = np.array([b.purchase_prob for b in behaviour])
    block_length = 1 + extra_views + cart_prob * (1 + purchase_prob)
    is_antecedent = np.zeros(len(catalog.names), dtype=bool)
    is_antecedent[catalog.pair_antecedent] = True
    category_cdf = np.cumsum(catalog.category_weights)

    need = budget.copy()
    active = np.arange(budget.size)
    rounds: list[_Blocks] = []
    while active.size:
        count = np.ceil(need[active] / block_length[users.segment[active]] * 1.15).astype(np.int64) + 1
        user = np.repeat(active, count)
        m = user.size
        segment = users.segment[user]
        favorite = users.favorites[user, rng.integers(0, _FAVORITES, m)]
        category = np.where(rng.random(m) < favorite_prob, favorite, _sample(rng, category_cdf, m))
        views = 1 + rng.poisson(extra_views[segment])
        cart = rng.random(m) < cart_prob[segment]
        purchase = cart & (rng.random(m) < purchase_prob[segment])
        trigger = purchase & is_antecedent[category] & (rng.random(m) < complement_prob)
        # Follow-up fields are drawn for every block (cheap, keeps the arrays aligned) and used where trigger.
        f_category = _followup_category(rng, catalog, category)
        f_cart = rng.random(m) < np.minimum(cart_prob[segment] * _FOLLOWUP_CART_BOOST, 0.95)
        f_purchase = f_cart & (rng.random(m) < purchase_prob[segment])
        blocks = _Blocks(
            user=user, category=category, views=views, outcome=cart.astype(np.int64) + purchase,
            new_session=rng.random(m) < _NEW_SESSION_PROB, trigger=trigger, f_category=f_category,
            f_views=1 + rng.poisson(_FOLLOWUP_EXTRA_VIEWS, m), f_outcome=f_cart.astype(np.int64) + f_purchase,
            f_delayed=rng.random(m) < complement_delay, f_new_session=rng.random(m) >= complement_same_session,
        )
        rounds.append(blocks)
        need -= np.bincount(user, weights=blocks.length, minlength=budget.size).astype(np.int64)
        active = np.flatnonzero(need > 0)
    if len(rounds) == 1:
        return rounds[0]
    merged = {name: np.concatenate([getattr(r, name) for r in rounds]) for name in _Blocks.__dataclass_fields__}
    order = np.argsort(merged["user"], kind="stable")  # rounds keep their order within a user
    return _Blocks(**{name: values[order] for name, values in merged.items()})


def _followup_category(rng: np.random.Generator, catalog: _Catalog, category: np.ndarray) -> np.ndarray:
    """A consequent of each antecedent ``category`` by pair weight (meaningless, but valid, elsewhere)."""
    if catalog.pair_table.size == 0:
        return np.zeros(category.size, dtype=np.int64)
    pair = np.searchsorted(catalog.pair_table, category + _unit(rng, category.size), side="right")
    return catalog.pair_consequent[np.minimum(pair, catalog.pair_table.size - 1)]


@dataclass
class _Episodes:
    """Episodes in final order (user-major, chronological), cut to each user's budget."""

    user: np.ndarray
    category: np.ndarray
    views: np.ndarray
    length: np.ndarray  # events kept (> 0)
    start: np.ndarray  # index of the first event in the log
    new_session: np.ndarray
    followup_of: np.ndarray  # index of the episode whose purchase triggered this one, -1 for a browse


def _order_episodes(blocks: _Blocks, budget: np.ndarray) -> _Episodes:
    n_blocks = blocks.user.size
    follow = np.flatnonzero(blocks.trigger)
    same_user_next = np.zeros(n_blocks, dtype=bool)
    same_user_next[:-1] = blocks.user[1:] == blocks.user[:-1]
    # Sort keys: browse of block g at 3g, its immediate follow-up at 3g + 1, a delayed one after block
    # g + 1 (and after that block's own immediate follow-up) at 3(g + 1) + 2.
    delayed = blocks.f_delayed[follow] & same_user_next[follow]
    key = np.concatenate([3 * np.arange(n_blocks), 3 * follow + np.where(delayed, 5, 1)])
    order = np.argsort(key, kind="stable")
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)

    def both(browse: np.ndarray, followup: np.ndarray) -> np.ndarray:
        return np.concatenate([browse, followup[follow]])[order]

    user = both(blocks.user, blocks.user)
    views = both(blocks.views, blocks.f_views)
    length = both(blocks.views + blocks.outcome, blocks.f_views + blocks.f_outcome)
    followup_of = np.concatenate([np.full(n_blocks, -1), position[follow]])[order]

    # Cut each user's history at the budget: keep the prefix, drop empty episodes.
    first = _run_starts(user)
    offset = _within_cumsum(length, user) - length
    length = np.clip(budget[user] - offset, 0, length)
    keep = length > 0
    new_index = np.cumsum(keep) - 1
    followup_of = np.where(followup_of >= 0, new_index[np.maximum(followup_of, 0)], -1)
    new_session = both(blocks.new_session, blocks.f_new_session) | first
    length = length[keep]
    return _Episodes(
        user=user[keep], category=both(blocks.category, blocks.f_category)[keep], views=views[keep],
        length=length, start=np.cumsum(length) - length, new_session=new_session[keep],
        followup_of=followup_of[keep],
    )


# ---------------------------------------------------------------------------------------------- events


@dataclass
class _Events:
    episode: np.ndarray  # (N,) int32
    item: np.ndarray  # (N,) int32 item index
    code: np.ndarray  # (N,) uint8 index into EVENT_NAMES


def _expand_events(rng: np.random.Generator, episodes: _Episodes, users: _Users, catalog: _Catalog,
                   n_events: int) -> _Events:
    n_episodes = episodes.length.size
    episode = np.repeat(np.arange(n_episodes, dtype=np.int32), episodes.length)
    position = np.arange(n_events, dtype=np.int32) - episodes.start[episode].astype(np.int32)
    views = episodes.views[episode]
    code = (position >= views).astype(np.uint8) + (position > views)
    del position, views
    # Items of views: inverse CDF of the (segment, category) block of the choice table.
    block = (users.segment[episodes.user].astype(np.int64) * len(catalog.names) + episodes.category)
    query = block[episode].astype(np.float64)
    query += _unit(rng, n_events)
    item = (np.searchsorted(catalog.choice_table, query, side="right") % catalog.item_category.size).astype(np.int32)
    del query
    # Cart and purchase are of one of the viewed items.
    target_event = episodes.start + np.floor(rng.random(n_episodes) * episodes.views).astype(np.int64)
    target = item[np.minimum(target_event, n_events - 1)]
    funnel = np.flatnonzero(code)
    item[funnel] = target[episode[funnel]]
    return _Events(episode=episode, item=item, code=code)


# ----------------------------------------------------------------------------------------------- clock


@dataclass
class _Clock:
    timestamp: np.ndarray  # (N,) seconds since ``start``
    session: np.ndarray  # (N,) global session index
    n_sessions: int
    device: np.ndarray  # (N,) index into DEVICE_NAMES
    time_of_day: np.ndarray  # (N,) index into TIME_OF_DAY_NAMES


def _make_clock(rng: np.random.Generator, episodes: _Episodes, events: _Events, users: _Users,
                days: int) -> _Clock:
    n_events = events.episode.size
    session_of_episode = (np.cumsum(episodes.new_session) - 1).astype(np.int32)
    n_sessions = int(session_of_episode[-1]) + 1
    session = session_of_episode[events.episode]
    session_user = episodes.user[episodes.new_session]
    session_first = episodes.start[episodes.new_session]
    session_last = np.append(session_first[1:], n_events) - 1

    # Within a session: seconds-minutes between events (capped below the 30-minute sessionisation gap).
    gap = np.minimum(1 + rng.lognormal(np.log(30.0), 0.9, n_events), _MAX_IN_SESSION_GAP).astype(np.int64)
    elapsed = np.cumsum(gap)
    del gap
    offset = elapsed - elapsed[session_first][session]
    duration = elapsed[session_last] - elapsed[session_first]
    del elapsed

    # Between sessions: on an "activity clock" that runs fast in busy hours; mapping it back to wall-clock
    # time makes session starts follow the diurnal profile. Gaps of (duration + 1 h) / min_slope activity
    # seconds guarantee at least 1 h of wall-clock silence between sessions.
    hourly = _HOURLY_ACTIVITY / _HOURLY_ACTIVITY.mean()
    min_slope = 1.0 / hourly.max()
    floor_gap = (duration + _MIN_SESSION_GAP) / min_slope
    # Sessions sit at sorted uniform points of the user's span (normalised exponential spacings), then
    # each is pushed back by the floor gaps before it.
    period = days * _DAY
    n_users = users.segment.size
    floor_before = _within_cumsum(floor_gap, session_user) - floor_gap
    floor_total = np.bincount(session_user, weights=floor_gap, minlength=n_users)
    span = np.maximum(users.span * period - floor_total, 0.0)
    spacing = rng.exponential(1.0, n_sessions)
    spacing_total = np.bincount(session_user, weights=spacing, minlength=n_users) + rng.exponential(1.0, n_users)
    fraction = _within_cumsum(spacing, session_user) / spacing_total[session_user]
    del spacing
    activity_start = users.first * np.maximum(period - span - floor_total, 0.0)
    clock = activity_start[session_user] + span[session_user] * fraction + floor_before
    cumulative_hours = np.concatenate([[0.0], np.cumsum(hourly)]) * 3600
    day = np.floor(clock / _DAY)
    wall = day * _DAY + np.interp(clock - day * _DAY, cumulative_hours, np.arange(25) * 3600.0)
    session_start = np.floor(wall).astype(np.int64)

    # Device per session: the preferred one mostly, else a time-of-day-dependent mix.
    session_tod = (session_start % _DAY) // (6 * 3600)
    other = (rng.random(n_sessions)[:, None] > np.cumsum(_DEVICE_BY_TIME_OF_DAY, axis=1)[session_tod]).sum(axis=1)
    device = np.where(rng.random(n_sessions) < _DEVICE_LOYALTY, users.device[session_user], other.clip(0, 2))

    timestamp = session_start[session] + offset
    del offset
    return _Clock(timestamp=timestamp, session=session, n_sessions=n_sessions,
                  device=device.astype(np.uint8)[session],
                  time_of_day=((timestamp % _DAY) // (6 * 3600)).astype(np.uint8))


def _apply_context(rng: np.random.Generator, effect: float, episodes: _Episodes, events: _Events, users: _Users,
                   catalog: _Catalog, clock: _Clock) -> tuple[_Events, np.ndarray]:
    """Move a share ``effect`` of the browse episodes that trigger nothing to their context cell's category
    and redraw their items; returns the new events and the ``[device, time of day]`` cell categories."""
    triggers = np.zeros(episodes.user.size, dtype=bool)
    triggers[episodes.followup_of[episodes.followup_of >= 0]] = True
    free = np.setdiff1d(np.arange(len(catalog.names)), catalog.pair_antecedent)
    cells = rng.choice(free, size=(len(DEVICE_NAMES), len(TIME_OF_DAY_NAMES)))
    first = episodes.start  # the context of an episode is that of its first event
    cell_category = cells[clock.device[first], clock.time_of_day[first]]
    moved = (episodes.followup_of < 0) & ~triggers & (rng.random(episodes.user.size) < effect)
    category = np.where(moved, cell_category, episodes.category)
    redrawn = _expand_events(rng, _Episodes(**{**episodes.__dict__, "category": category}), users, catalog,
                             events.episode.size)
    item = np.where(moved[events.episode], redrawn.item, events.item).astype(np.int32)
    episodes.category[:] = category  # the ground truth reads the final categories
    return _Events(episode=events.episode, item=item, code=events.code), cells


# ------------------------------------------------------------------------------------------ ground truth


def _complement_table(catalog: _Catalog, episodes: _Episodes, complement_prob: float) -> pl.DataFrame:
    follow = np.flatnonzero(episodes.followup_of >= 0)
    source = episodes.followup_of[follow]
    purchase_event = episodes.start[source] + episodes.views[source] + 1
    realised = pl.DataFrame({
        "antecedent": episodes.category[source], "consequent": episodes.category[follow],
        "lag": episodes.start[follow] - purchase_event,
    }, schema={"antecedent": pl.Int64, "consequent": pl.Int64, "lag": pl.Int64}).group_by(
        "antecedent", "consequent").agg(pl.col("lag").mean().alias("mean_lag_events"), pl.len().alias("n_planted"))
    names = pl.Series(catalog.names)
    planted = pl.DataFrame({
        "antecedent": catalog.pair_antecedent, "consequent": catalog.pair_consequent,
        "probability": complement_prob * catalog.pair_probability,
    }, schema={"antecedent": pl.Int64, "consequent": pl.Int64, "probability": pl.Float64})
    return (planted.join(realised, on=["antecedent", "consequent"], how="left")
            .with_columns(pl.col("n_planted").fill_null(0).cast(pl.Int64))
            .pipe(_name_categories, names))


def _name_categories(frame: pl.DataFrame, names: pl.Series) -> pl.DataFrame:
    return frame.with_columns(
        names.gather(frame.get_column("antecedent")).alias("antecedent"),
        names.gather(frame.get_column("consequent")).alias("consequent"),
    )


# ------------------------------------------------------------------------------------------------ helpers


def _segment_weights(mix: Mapping[str, float]) -> np.ndarray:
    unknown = set(mix) - set(SEGMENT_NAMES)
    if unknown:
        raise ValueError(f"unknown segment(s) {sorted(unknown)}; known: {list(SEGMENT_NAMES)}")
    weights = np.array([float(mix.get(s, 0.0)) for s in SEGMENT_NAMES])
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"segment_mix needs non-negative weights with a positive sum, got {dict(mix)}")
    return weights / weights.sum()


def _check_arguments(n_events: int, n_users: int, n_items: int, n_categories: int, days: int,
                     **probabilities: float) -> None:
    if n_events < 1:
        raise ValueError(f"n_events must be at least 1, got {n_events}")
    if not 1 <= n_users <= n_events:
        raise ValueError(f"n_users must be between 1 and n_events={n_events} (one event each), got {n_users}")
    if n_categories < 1 or n_items < n_categories:
        raise ValueError(f"need 1 <= n_categories <= n_items, got n_categories={n_categories}, n_items={n_items}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    for name, value in probabilities.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a probability, got {value}")


def _ids(prefix: str, n: int) -> pl.Series:
    """``prefix`` + zero-padded 0..n-1, all of one width so that string order is numeric order."""
    width = len(str(max(n - 1, 0)))
    return (prefix + pl.int_range(n, dtype=pl.Int64, eager=True).cast(pl.String).str.zfill(width)).alias("id")


def _run_starts(group: np.ndarray) -> np.ndarray:
    starts = np.ones(group.size, dtype=bool)
    starts[1:] = group[1:] != group[:-1]
    return starts


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform draws in [0, 1) kept clear of 1, so that ``block + u`` never rounds into the next block."""
    return np.minimum(rng.random(n), 1.0 - 1e-9)


def _sample(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of an index from a cumulative distribution."""
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), cdf.size - 1)
