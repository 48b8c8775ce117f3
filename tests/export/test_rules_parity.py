"""Cross-sell rules compiled into the serving scorer: known answers on the hand-written model in eager,
TorchScript and torch.export, and a written bundle whose compiled scorers match the eager model with rules on."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.export.conftest import DIM, MAX_LEN
from tests.export.toy import COUNTS, LastItem
from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.complement import ComplementMode
from xsell.crosssell.pipeline import ScoreRules
from xsell.crosssell.price import PriceRule
from xsell.data.vocabulary import Vocabulary
from xsell.export.bundle import load_bundle, parity_batches
from xsell.export.programs import to_exported_program, to_torchscript
from xsell.export.run import export_model
from xsell.export.scorer import TopKScorer
from xsell.models import MeanPool

# The toy catalog (tests/export/toy.py) as items a..d = indices 2..5: a [1, 0], b [0.9, 0.1], c [0, 1], d [.5, .5]
TOY_ITEMS = pl.DataFrame({"item_id": ["a", "b", "c", "d"], "category": ["x", "x", "y", "z"],
                          "price": [100.0, 90.0, 10.0, 50.0]})
TOY = ItemCatalog(TOY_ITEMS, Vocabulary(["a", "b", "c", "d"], name="item_id"))


@pytest.fixture(scope="module")
def formats() -> dict:
    rules = ScoreRules([ComplementMode(TOY, factor=0.0), PriceRule(TOY, max_ratio=0.4)])
    scorer = TopKScorer(LastItem(), COUNTS, rules=rules).eval()
    return {"eager": scorer, "torchscript": to_torchscript(scorer), "export": to_exported_program(scorer).module()}


@pytest.mark.parametrize("name", ["eager", "torchscript", "export"])
def test_rules_change_the_top_k_as_worked_out(formats, name):
    scorer = formats[name]
    none = torch.zeros(2, 6, dtype=torch.bool)
    # after a (x, 100): b is a second x and d (50) costs more than 40% of a: only c is left, then nothing.
    # An empty history has no anchor: the popularity prior, untouched (b 5/11, c 3/11).
    indices, scores = scorer(torch.tensor([[0, 0, 0, 2], [0, 0, 0, 0]]), 2, none)
    assert indices[0, 0].item() == 4 and scores[0].tolist() == [0.0, -math.inf]
    assert indices[1].tolist() == [3, 4]
    # after c (y, 10): a and b cost more than 4 -> excluded; d (50) too; the history item c itself too.
    indices, scores = scorer(torch.tensor([[0, 0, 0, 4], [0, 0, 0, 4]]), 1, none)
    assert scores.tolist() == [[-math.inf], [-math.inf]]


def test_bundle_compiles_item_table_rules_with_parity(shop, tmp_path):
    torch.manual_seed(0)
    model = MeanPool(shop.num_items, dim=DIM, max_len=MAX_LEN).eval()  # the quickest model to compile
    config = OmegaConf.create({"model": {"_target_": "xsell.models.MeanPool"}, "inputs": {}})
    rules = instantiate(OmegaConf.create({
        "exclude_purchased": {"_target_": "xsell.crosssell.history.ExcludePurchased", "_partial_": True},
        "complement": {"_target_": "xsell.crosssell.complement.ComplementMode", "_partial_": True, "factor": 0.0},
        "price": {"_target_": "xsell.crosssell.price.PriceRule", "_partial_": True, "max_ratio": 0.5},
    }))
    with pytest.warns(UserWarning, match="not compiled.*ExcludePurchased"):
        path = export_model(model, shop, config, tmp_path / "bundle", rules=rules)
    manifest = json.loads((path / "manifest.json").read_text())
    assert [r["rule"] for r in manifest["rules"]["compiled"]] == ["ComplementMode", "PriceRule"]
    assert [r["rule"] for r in manifest["rules"]["left_out"]] == ["ExcludePurchased"]
    assert manifest["scorer"]["rules"] == manifest["rules"]["compiled"]
    card = (path / "README.md").read_text()
    assert "compiled into the scorer" in card and "`ComplementMode`, `PriceRule`" in card
    assert set(manifest["parity"]) == {"scorer.pt", "scorer.pt2"}
    assert all(p["index_mismatches"] == 0 and p["max_abs_diff"] <= 1e-5 for p in manifest["parity"].values())

    bundle = load_bundle(path)  # write_bundle checked both compiled scorers against the eager model with rules
    batches = parity_batches(bundle.scorer)
    # the rules bite: no served item shares the last item's category or costs more than half of it
    catalog = ItemCatalog.of(shop)
    codes, prices = catalog.codes("category"), catalog.values("price")
    items = batches[0]["items"]
    indices, scores = bundle.scorer(items, 10, None)
    last = items[:, -1]
    anchored = (last >= 2) & (last < shop.num_items)
    served = torch.isfinite(scores) & anchored.unsqueeze(1)
    assert served.any()
    anchor = last.clamp(0, shop.num_items - 1).unsqueeze(1).expand_as(indices)
    assert not ((codes[indices] == codes[anchor]) & served).any()
    assert not ((prices[indices] > 0.5 * prices[anchor]) & served).any()
