from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from xsell.data.interactions import Interactions
from xsell.data.vocabulary import Vocabulary
from xsell.errors import SchemaError
from xsell.simulation import ShopWorld

from .worlds import small_shop


def test_world_arrays_follow_the_shop():
    shop, world = small_shop()
    assert world.num_items == shop.items.height
    assert world.category_affinity.shape == (len(world.category_names),) * 2
    items = shop.items.sort("item_id")
    assert world.item_ids.tolist() == items["item_id"].to_list()
    assert np.array_equal(world.price, items["price"].to_numpy())
    names = np.array(world.category_names)[world.category]
    assert names.tolist() == items["category"].to_list()


def test_affinity_is_the_ground_truth():
    shop, world = small_shop()
    camera = shop.items.filter(category="camera")["item_id"][0]
    card = shop.items.filter(category="memory_card")["item_id"][0]
    tent = shop.items.filter(category="tent")["item_id"][0]
    i = world.item_index([camera, card, tent])
    expected = shop.ground_truth.affinity([camera, camera], [card, tent])
    assert world.affinity(i[0], i[1]) == pytest.approx(expected[0]) and expected[0] > 0
    assert world.affinity(i[0], i[2]) == 0.0 and world.affinity(i[1], i[0]) == 0.0  # not symmetric
    everything = world.affinity(np.arange(world.num_items)[:, None], np.arange(world.num_items)[None, :])
    ids = world.item_ids
    assert np.array_equal(everything, shop.ground_truth.affinity(ids[:, None], ids[None, :]))  # every pair
    assert world.max_affinity == pytest.approx(everything.max())


def test_an_item_level_affinity_is_refused():
    shop, _ = small_shop()

    class ItemLevel:
        def affinity(self, anchors, items):
            return (np.char.str_len(np.asarray(items).astype(str)) % 2) * np.ones(np.broadcast(anchors, items).shape)

        def __getattr__(self, name):
            return getattr(shop.ground_truth, name)

    odd = shop.items.with_columns(shop.items["item_id"].str.slice(0, 3) + pl.int_range(pl.len()).cast(str))
    with pytest.raises(SchemaError, match="categories"):
        ShopWorld.from_shop(Interactions(shop.events, odd, shop.users, "x", ItemLevel()))


def test_unknown_ids_and_missing_tables_raise_schema_errors():
    shop, world = small_shop()
    with pytest.raises(SchemaError, match="rows=2"):
        world.item_index(["nope", "never"])
    with pytest.raises(SchemaError, match="users"):
        ShopWorld.from_shop(Interactions(shop.events, shop.items, None, "x", shop.ground_truth))
    with pytest.raises(SchemaError, match="ground truth"):
        ShopWorld.from_shop(Interactions(shop.events, shop.items, shop.users, "x"))
    with pytest.raises(SchemaError, match="price"):
        ShopWorld.from_shop(Interactions(shop.events, shop.items.drop("price"), shop.users, "x", shop.ground_truth))
    free = shop.items.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(0.0).otherwise("price").alias("price"))
    with pytest.raises(SchemaError, match="positive price.*rows=3"):
        ShopWorld.from_shop(Interactions(shop.events, free, shop.users, "x", shop.ground_truth))


def test_vocabulary_maps_round_trip():
    _, world = small_shop()
    vocabulary = Vocabulary([world.item_ids[5], world.item_ids[2], "not_in_world"])
    from_vocabulary = world.from_vocabulary(vocabulary)
    assert from_vocabulary.tolist() == [-1, -1, 5, 2, -1]  # padding, unknown, i5, i2, foreign id
    to_vocabulary = world.to_vocabulary(vocabulary)
    assert to_vocabulary[5] == 2 and to_vocabulary[2] == 3 and (np.delete(to_vocabulary, [2, 5]) == 1).all()
