from __future__ import annotations

import math

import pytest
import torch

from tests.crosssell.shop import GHOST, GL1, GL2, HAT, JK1, SC1, catalog
from xsell.errors import SchemaError


def test_per_item_tensors_follow_the_vocabulary():
    c = catalog()
    codes = c.codes("category")  # sorted names: gloves 0, hat 1, jacket 2, scarf 3
    assert codes.tolist() == [-1, -1, 2, 2, 0, 0, 1, 3, -1]
    prices = c.values("price")
    assert prices[JK1] == 100.0 and prices[GL1] == 20.0
    assert math.isnan(prices[SC1]) and math.isnan(prices[GHOST]) and math.isnan(prices[0])
    stock = c.flags("in_stock")
    assert stock[HAT] and not stock[GL2] and not stock[GHOST] and not stock[0]
    assert torch.equal(c.mask_of(["hat", "nope"]).nonzero().squeeze(1), torch.tensor([HAT]))
    assert c.event_indices(["purchase", "cart"]).tolist() == [4, 3]


def test_bad_columns_and_event_names_are_clear_errors():
    c = catalog()
    with pytest.raises(SchemaError, match="no such column.*column='colour'"):
        c.codes("colour")
    with pytest.raises(SchemaError, match="expected numbers.*column='category'"):
        c.values("category")
    with pytest.raises(SchemaError, match="expected booleans.*column='price'"):
        c.flags("price")
    with pytest.raises(ValueError, match="unknown event type.*'refund'"):
        c.event_indices(["refund"])
