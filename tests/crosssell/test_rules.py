"""Each score rule on hand-made carts (see tests/crosssell/shop.py) with answers worked out on paper."""

from __future__ import annotations

import math

import pytest
import torch

from tests.crosssell.shop import FLAT, GHOST, GL1, GL2, HAT, JK1, JK2, SC1, catalog, history, scores
from xsell.crosssell.complement import ComplementMode
from xsell.crosssell.filters import AllowList, DenyList, InStock
from xsell.crosssell.history import ExcludePurchased
from xsell.crosssell.price import PriceRule
from xsell.export.programs import torchscript_deprecation_silenced

INF = float("inf")


def blocked(out: torch.Tensor) -> list[int]:
    return (out[0] == -INF).nonzero().squeeze(1).tolist()


def test_complement_mode_excludes_the_anchor_category():
    items, events = history(HAT, JK1)  # the jacket was viewed last
    out = ComplementMode(catalog(), factor=0.0)(scores(FLAT), items, events)
    assert blocked(out) == [JK1, JK2]  # not a second jacket; the hat (viewed earlier) is not the anchor
    assert out[0, GL1] == 5.0


def test_complement_mode_down_weights_by_a_factor_and_reads_a_cart():
    items, events = history(HAT, JK1)
    out = ComplementMode(catalog(), factor=0.5, last=2)(scores(FLAT), items, events)
    assert out[0, JK2].item() == pytest.approx(6.0 + math.log(0.5))
    assert out[0, HAT].item() == pytest.approx(3.0 + math.log(0.5))
    assert out[0, GL1] == 5.0 and out[0, GHOST] == 1.0  # unknown category left alone


def test_complement_mode_ignores_unknown_anchors_and_empty_histories():
    rule = ComplementMode(catalog(), factor=0.0)
    for row in (history(), history(GHOST), history(1)):
        assert torch.equal(rule(scores(FLAT), *row), scores(FLAT))
    with pytest.raises(ValueError, match="factor"):
        ComplementMode(catalog(), factor=2.0)


def test_price_rule_keeps_accessories_under_a_share_of_the_anchor_price():
    items, events = history(JK1)  # 100
    out = PriceRule(catalog(), max_ratio=0.3)(scores(FLAT), items, events)
    assert blocked(out) == [JK1, JK2, GL2]  # 100, 80, 35 > 30; gloves 20 and hat 25 stay
    assert out[0, SC1] == 2.0 and out[0, GHOST] == 1.0  # no known price: kept
    out = PriceRule(catalog(), max_ratio=None, min_ratio=0.3)(scores(FLAT), items, events)
    assert blocked(out) == [GL1, HAT]


def test_price_rule_anchors_on_the_dearest_cart_item_and_skips_unpriced_anchors():
    items, events = history(JK1, GL1)  # the cart holds 100 and 20
    out = PriceRule(catalog(), max_ratio=0.3, last=2)(scores(FLAT), items, events)
    assert blocked(out) == [JK1, JK2, GL2]
    out = PriceRule(catalog(), max_ratio=0.3)(scores(FLAT), *history(SC1))  # the anchor has no price
    assert blocked(out) == []


def test_stock_allow_and_deny_lists():
    c = catalog()
    items, events = history(JK1)
    assert blocked(InStock(c)(scores(FLAT), items, events)) == [0, 1, GL2, GHOST]
    assert blocked(DenyList(c, ids=["hat"])(scores(FLAT), items, events)) == [HAT]
    assert blocked(DenyList(c, column="promoted")(scores(FLAT), items, events)) == [JK2, GL2]
    allowed = AllowList(c, ids=["gl1"], column="promoted")(scores(FLAT), items, events)
    assert sorted(set(range(2, 9)) - set(blocked(allowed))) == [JK2, GL1, GL2]
    with pytest.raises(ValueError, match="allow list"):
        AllowList(c)


def test_exclude_purchased_reads_event_types():
    items = torch.tensor([[0, JK1, GL1, JK1, HAT]])
    events = torch.tensor([[0, 4, 2, 2, 4]])  # jk1 bought, then viewed again; gloves viewed; hat bought
    out = ExcludePurchased(catalog())(scores(FLAT), items, events)
    assert blocked(out) == [JK1, HAT]
    out = ExcludePurchased(catalog(), events=["view"])(scores(FLAT), items, events)
    assert blocked(out) == [JK1, GL1]


def test_item_table_rules_script():
    c = catalog()
    items, events = history(HAT, JK1)
    for rule in (ComplementMode(c, factor=0.5, last=2), PriceRule(c, max_ratio=0.3), InStock(c), DenyList(c, ids=["hat"])):
        with torchscript_deprecation_silenced():
            scripted = torch.jit.script(rule)
        assert torch.equal(scripted(scores(FLAT, FLAT), items.expand(2, -1), events.expand(2, -1)),
                           rule(scores(FLAT, FLAT), items.expand(2, -1), events.expand(2, -1)))
