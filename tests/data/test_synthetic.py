"""The synthetic shop: exact size, schema, determinism, and the structure it plants (checked on the log)."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell.data.interactions import Interactions
from xsell.data.schema import EVENT, ITEM, SESSION, TIMESTAMP, USER
from xsell.data.synthetic import (
    COMPLEMENTS,
    DEVICE_NAMES,
    EVENT_NAMES,
    SEGMENT_NAMES,
    TIME_OF_DAY_NAMES,
    ShopGroundTruth,
    synthetic_shop,
)

JAN_1_2024 = 1_704_067_200
SESSION_GAP = 30 * 60


@pytest.fixture(scope="module")
def shop() -> Interactions:
    return synthetic_shop(40_000, seed=3)


@pytest.fixture(scope="module")
def events(shop: Interactions) -> pl.DataFrame:
    """The log with its row order, the item's category and price bucket, and the user's segment."""
    return (
        shop.events.with_row_index("row")
        .join(shop.items.select(ITEM, "category", "price_bucket"), on=ITEM, how="left")
        .join(shop.users.select(USER, "segment"), on=USER, how="left")
        .sort("row")
    )


# ------------------------------------------------------------------------------------------ size, schema


@pytest.mark.parametrize("n_events", [1, 2, 999, 1_000, 1_001, 12_345, 30_000])
def test_exact_number_of_events(n_events: int) -> None:
    assert synthetic_shop(n_events, seed=1).events.height == n_events


@settings(max_examples=25, deadline=None)
@given(n_events=st.integers(1, 3_000), seed=st.integers(0, 2**32 - 1), users=st.floats(0.0, 1.0))
def test_exact_number_of_events_for_any_size_and_user_count(n_events: int, seed: int, users: float) -> None:
    n_users = max(1, round(users * n_events))
    shop = synthetic_shop(n_events, seed, n_users=n_users)
    assert shop.events.height == n_events
    assert shop.num_users == n_users  # every user has at least one event


def test_columns_and_dtypes(shop: Interactions) -> None:
    assert shop.events.schema == pl.Schema({
        USER: pl.String, ITEM: pl.String, TIMESTAMP: pl.Int64, EVENT: pl.String, SESSION: pl.String,
        "device": pl.String, "time_of_day": pl.String,
    })
    assert shop.items is not None and shop.users is not None
    assert shop.items.schema == pl.Schema({
        ITEM: pl.String, "category": pl.String, "brand": pl.String, "price": pl.Float64,
        "price_bucket": pl.String, "title_tokens": pl.List(pl.String),
    })
    assert shop.users.schema == pl.Schema({USER: pl.String, "segment": pl.String, "preferred_device": pl.String})
    assert shop.events.null_count().row(0) == (0,) * shop.events.width
    assert set(shop.events[EVENT].unique()) == set(EVENT_NAMES)
    assert set(shop.events["device"].unique()) == set(DEVICE_NAMES)
    assert set(shop.events["time_of_day"].unique()) == set(TIME_OF_DAY_NAMES)
    assert set(shop.users["segment"].unique()) == set(SEGMENT_NAMES)
    assert shop.name == "synthetic_shop(n_events=40000, seed=3)"


def test_tables_are_keyed_and_cover_the_log(shop: Interactions) -> None:
    assert shop.items is not None and shop.users is not None
    assert shop.items[ITEM].is_unique().all() and shop.users[USER].is_unique().all()
    assert shop.events[ITEM].is_in(shop.items[ITEM].implode()).all()
    assert shop.events[USER].is_in(shop.users[USER].implode()).all()
    assert shop.num_users == shop.users.height  # every user is active


def test_default_sizes_scale_with_events() -> None:
    small, large = synthetic_shop(1_000), synthetic_shop(100_000)
    assert small.users.height == 20 and small.items.height >= 200
    assert large.users.height == 2_000
    assert small.items.height < large.items.height < 10_000


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    a, b, c = synthetic_shop(5_000, seed=7), synthetic_shop(5_000, seed=7), synthetic_shop(5_000, seed=8)
    assert a.events.equals(b.events) and a.items.equals(b.items) and a.users.equals(b.users)
    assert a.ground_truth.complements.equals(b.ground_truth.complements)
    assert not a.events.equals(c.events)
    assert not a.items.equals(c.items)


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="n_events"):
        synthetic_shop(0)
    with pytest.raises(ValueError, match="n_users"):
        synthetic_shop(10, n_users=11)
    with pytest.raises(ValueError, match="n_categories"):
        synthetic_shop(100, n_items=10, n_categories=20)
    with pytest.raises(ValueError, match="unknown segment"):
        synthetic_shop(100, segment_mix={"whale": 1.0})
    with pytest.raises(ValueError, match="complement_prob"):
        synthetic_shop(100, complement_prob=1.5)


# --------------------------------------------------------------------------------------- catalog, users


def test_catalog(shop: Interactions) -> None:
    items = shop.items
    assert items is not None
    assert items["category"].n_unique() == 32
    assert (items["price"] > 0).all()
    assert set(items["price_bucket"].unique()) == {f"p{b}" for b in range(5)}
    # Buckets are price quintiles within a category: they never overlap in price.
    ranges = items.group_by("category", "price_bucket").agg(pl.col("price").min().alias("lo"),
                                                           pl.col("price").max().alias("hi"))
    ordered = ranges.sort("category", "price_bucket").with_columns(
        pl.col("lo").shift(-1).over("category").alias("next_lo"))
    assert (ordered.drop_nulls()["hi"] <= ordered.drop_nulls()["next_lo"]).all()
    # Cameras cost more than memory cards.
    medians = items.group_by("category").agg(pl.col("price").median()).rows_by_key("category", unique=True)
    assert medians["camera"][0] > 5 * medians["memory_card"][0]
    # Title tokens carry the category words and the brand.
    tokens = items.select(
        pl.col("category").str.split("_").list.set_difference("title_tokens").list.len().alias("missing"),
        pl.col("title_tokens").list.contains(pl.col("brand").str.to_lowercase()).alias("has_brand"),
    )
    assert (tokens["missing"] == 0).all() and tokens["has_brand"].all()


def test_item_popularity_is_skewed(events: pl.DataFrame, shop: Interactions) -> None:
    counts = events.filter(pl.col(EVENT) == "view")[ITEM].value_counts(sort=True)["count"]
    top_tenth = counts.head(shop.items.height // 10).sum() / counts.sum()
    assert top_tenth > 0.35


def test_more_categories_get_generated_names() -> None:
    shop = synthetic_shop(5_000, n_categories=40)
    categories = set(shop.items["category"].unique())
    assert len(categories) == 40 and "camera" in categories and "category_39" in categories


# ----------------------------------------------------------------------------------------- time, sessions


def test_timestamps_increase_within_user_and_start_in_2024(shop: Interactions) -> None:
    ts = shop.events[TIMESTAMP]
    assert ts.min() >= JAN_1_2024 and ts.max() < JAN_1_2024 + 366 * 86_400
    increasing = shop.events.select((pl.col(TIMESTAMP).diff().over(USER) > 0).fill_null(True).all()).item()
    assert increasing
    users = shop.events[USER]
    assert (users.rle_id().n_unique() == users.n_unique())  # rows are grouped by user


def test_thirty_minute_gap_recovers_sessions(shop: Interactions) -> None:
    sessionised = shop.events.with_columns(
        (pl.col(TIMESTAMP).diff().over(USER).fill_null(SESSION_GAP + 1) > SESSION_GAP).cum_sum().alias("gap_session")
    )
    assert sessionised["gap_session"].max() == sessionised[SESSION].n_unique()
    pairs = sessionised.select(SESSION, "gap_session").unique()
    assert pairs.height == sessionised[SESSION].n_unique()
    assert shop.events.group_by(SESSION).agg(pl.col(USER).n_unique())[USER].max() == 1  # unique across users


def test_device_is_fixed_per_session_and_time_of_day_matches_the_hour(shop: Interactions) -> None:
    assert shop.events.group_by(SESSION).agg(pl.col("device").n_unique())["device"].max() == 1
    hour = (shop.events[TIMESTAMP] % 86_400) // 3_600
    expected = pl.Series(TIME_OF_DAY_NAMES).gather(hour // 6)
    assert (shop.events["time_of_day"] == expected).all()
    # Evenings are busier than nights.
    share = shop.events["time_of_day"].value_counts(normalize=True).rows_by_key("time_of_day", unique=True)
    assert share["evening"][0] > 3 * share["night"][0]


def test_preferred_device_dominates(shop: Interactions) -> None:
    joined = shop.events.join(shop.users, on=USER)
    assert (joined["device"] == joined["preferred_device"]).mean() > 0.6


# ------------------------------------------------------------------------------------------------ funnel


def test_every_purchase_follows_a_cart_which_follows_a_view_in_the_session(events: pl.DataFrame) -> None:
    key = [SESSION, ITEM]
    counted = events.with_columns(
        (pl.col(EVENT) == name).cast(pl.Int32).cum_sum().over(key).alias(name) for name in EVENT_NAMES
    )
    purchases = counted.filter(pl.col(EVENT) == "purchase")
    carts = counted.filter(pl.col(EVENT) == "cart")
    assert purchases.height > 0 and carts.height > purchases.height
    assert (purchases["cart"] >= purchases["purchase"]).all()
    assert (carts["view"] >= 1).all()


# ------------------------------------------------------------------------------------- planted structure


def _follow_share(events: pl.DataFrame, k: int) -> pl.DataFrame:
    """Per (purchased category A, category B): share of A-purchases followed within ``k`` events by B."""
    following = pl.concat_list([pl.col("category").shift(-i).over(USER) for i in range(1, k + 1)])
    purchases = events.with_columns(following.alias("next")).filter(pl.col(EVENT) == "purchase")
    totals = purchases.group_by("category").len("purchases")
    hits = (purchases.select("row", "category", pl.col("next").list.drop_nulls().list.unique())
            .explode("next").drop_nulls().group_by("category", "next").len("hits"))
    return hits.join(totals, on="category").with_columns((pl.col("hits") / pl.col("purchases")).alias("share"))


def test_complements_follow_purchases_far_above_chance(events: pl.DataFrame, shop: Interactions) -> None:
    truth = shop.ground_truth
    planted = truth.complements.select(pl.col("antecedent").alias("category"),
                                       pl.col("consequent").alias("next"), pl.lit(True).alias("planted"))
    antecedents = planted["category"].unique()
    grid = (pl.DataFrame({"category": antecedents})
            .join(pl.DataFrame({"next": events["category"].unique()}), how="cross")
            .filter(pl.col("category") != pl.col("next"))
            .join(_follow_share(events, k=5).select("category", "next", "share"), on=["category", "next"],
                  how="left")
            .join(planted, on=["category", "next"], how="left")
            .with_columns(pl.col("share").fill_null(0.0), pl.col("planted").fill_null(False)))
    mean_share = grid.group_by("planted").agg(pl.col("share").mean()).rows_by_key("planted", unique=True)
    assert mean_share[True][0] > 5 * mean_share[False][0]
    # Any complement at all within 5 events of an antecedent purchase: close to complement_prob.
    any_complement = (grid.filter("planted").group_by("category").agg(pl.col("share").sum())["share"])
    assert any_complement.mean() > 0.5


def test_complement_signal_disappears_without_planting() -> None:
    shop = synthetic_shop(20_000, seed=3, complement_prob=0.0)
    assert (shop.ground_truth.complements["n_planted"] == 0).all()
    assert (shop.ground_truth.complements["probability"] == 0.0).all()


def test_ground_truth(shop: Interactions) -> None:
    truth = shop.ground_truth
    assert isinstance(truth, ShopGroundTruth)
    assert truth.complement_categories("camera") == ["memory_card", "camera_bag"]
    assert truth.complement_categories("printer") == ["ink"]
    assert truth.complement_categories("books") == []
    complements = truth.complements
    assert complements.height == len(COMPLEMENTS)
    per_antecedent = complements.group_by("antecedent").agg(pl.col("probability").sum())
    assert ((per_antecedent["probability"] - 0.7).abs() < 1e-9).all()
    assert (complements["n_planted"] > 0).all()
    assert complements["mean_lag_events"].min() >= 1.0
    overall_lag = (complements["mean_lag_events"] * complements["n_planted"]).sum() / complements["n_planted"].sum()
    assert overall_lag < 4.0  # mostly the very next event, sometimes after one more episode
    assert set(complements["antecedent"]).isdisjoint(complements["consequent"])  # no chains
    assert truth.item_category.equals(shop.items.select(ITEM, "category"))
    assert truth.user_segment.equals(shop.users.select(USER, "segment"))
    assert truth.params["n_users"] == shop.users.height


def test_affinity_is_the_planted_pair_probability(shop: Interactions) -> None:
    truth = shop.ground_truth
    first = dict(shop.items.group_by("category", maintain_order=True).first().select("category", ITEM).iter_rows())
    second = shop.items.filter(pl.col("category") == "camera").get_column(ITEM)[1]
    camera, card, bag, tent = first["camera"], first["memory_card"], first["camera_bag"], first["tent"]
    found = truth.affinity([camera, camera, camera, camera, card, tent], [card, bag, second, tent, camera, camera])
    assert found.tolist() == pytest.approx([0.7 * 0.7, 0.7 * 0.3, 0.0, 0.0, 0.0, 0.0])  # directed; same/unrelated 0
    top_k = truth.affinity(np.array([[camera], [tent]]), np.array([[card, bag], [first["sleeping_bag"], card]]))
    assert top_k.shape == (2, 2)
    np.testing.assert_allclose(top_k, [[0.49, 0.21], [0.7, 0.0]])
    everything = truth.affinity(shop.items[ITEM].to_numpy()[:, None], shop.items[ITEM].to_numpy()[None, :])
    assert everything.min() == 0.0 and everything.max() <= 1.0
    assert (everything > 0).sum() == sum(  # every item pair of every planted category pair, nothing else
        (shop.items["category"] == a).sum() * (shop.items["category"] == c).sum()
        for a, c in truth.complements.select("antecedent", "consequent").iter_rows())
    with pytest.raises(KeyError, match="1 item id"):
        truth.affinity([camera], ["no-such-item"])


# ---------------------------------------------------------------------------------------------- segments


def test_segments_behave_differently(events: pl.DataFrame) -> None:
    stats = events.group_by("segment").agg(
        (pl.col(EVENT) == "purchase").mean().alias("purchase_rate"),
        (pl.col(SESSION).n_unique() / pl.col(USER).n_unique()).alias("sessions_per_user"),
        pl.col("price_bucket").filter(pl.col(EVENT) == "purchase").str.slice(1).cast(pl.Int32).mean()
        .alias("purchased_bucket"),
    ).rows_by_key("segment", named=True, unique=True)
    frequent, bargain, browser = (stats[s] for s in SEGMENT_NAMES)
    assert browser["purchase_rate"] < 0.2 * frequent["purchase_rate"]
    assert frequent["sessions_per_user"] > 1.5 * browser["sessions_per_user"]
    assert bargain["purchased_bucket"] < frequent["purchased_bucket"] - 0.7


def test_segment_mix_is_configurable() -> None:
    shop = synthetic_shop(5_000, seed=2, segment_mix={"browser": 1.0})
    assert shop.users["segment"].unique().to_list() == ["browser"]


def _digest(shop: Interactions) -> str:
    """SHA-256 of the three frames as CSV (title tokens joined), the bytes a data set consumer sees."""
    items = shop.items.with_columns(pl.col("title_tokens").list.join(" "))
    digest = hashlib.sha256()
    for frame in (shop.events, items, shop.users):
        digest.update(frame.write_csv().encode())
    return digest.hexdigest()


def test_default_shop_is_byte_identical_to_before_the_context_option():
    # Recorded from the generator before `context_effect` existed (same seed and size).
    assert _digest(synthetic_shop(3000, seed=3)) == "e0afaf7fcf0e27a37e64a210f706f54364b76a9f6d4a19a420ce44662d673be2"
    assert _digest(synthetic_shop(3000, seed=3, context_effect=0.0)) == _digest(synthetic_shop(3000, seed=3))


def test_context_effect_ties_categories_to_device_and_time_of_day():
    shop = synthetic_shop(20_000, seed=0, context_effect=0.6)
    cells = shop.ground_truth.params["context_categories"]
    events = shop.events.join(shop.items.select(ITEM, "category"), on=ITEM)
    cell = pl.concat_str("device", pl.lit("/"), "time_of_day")
    share = events.with_columns(
        (pl.col("category") == cell.replace_strict(cells)).alias("in_cell")
    ).group_by(cell.alias("cell")).agg(pl.col("in_cell").mean(), pl.len())
    busy = share.filter(pl.col("len") >= 500)
    assert busy.height >= 4 and busy.get_column("in_cell").min() > 0.25  # ~1/30 without the effect
    plain = synthetic_shop(20_000, seed=0).events.join(shop.items.select(ITEM, "category"), on=ITEM)
    baseline = plain.with_columns((pl.col("category") == cell.replace_strict(cells)).alias("in_cell"))
    assert baseline.get_column("in_cell").mean() < 0.1
    assert shop.events.select(USER, TIMESTAMP, "device").equals(
        synthetic_shop(20_000, seed=0).events.select(USER, TIMESTAMP, "device"))  # only items move
    with pytest.raises(ValueError, match="context_effect"):
        synthetic_shop(1000, seed=0, context_effect=1.5)
