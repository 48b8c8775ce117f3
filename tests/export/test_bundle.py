"""Writing and loading bundles: layout, the item table, original-id recommendations, atomic writes, and
serving with torch alone in a fresh process that never imports xsell."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap
import warnings

import polars as pl
import pytest
import torch
from omegaconf import OmegaConf

from tests.export.toy import COUNTS, ITEM_TABLE, MANIFEST, LastItem
from xsell.data.datasets import evaluation_targets
from xsell.errors import BundleError, OutputError, UnknownItemWarning
from xsell.export import bundle as bundle_module
from xsell.export.bundle import load_bundle, reference, write_bundle
from xsell.export.parity import Parity
from xsell.export.run import export_model
from xsell.export.scorer import TopKScorer

ITEMS = pl.DataFrame({"index": [0, 1, 2], "item_id": [None, None, "a"]})


def test_layout_and_item_table(export_of, shop):
    exported = export_of("sasrec")
    assert sorted(p.name for p in exported.path.iterdir()) == [
        "README.md", "items.parquet", "manifest.json", "manifest.sha256", "scorer.pt", "scorer.pt2"]
    items = exported.bundle.items
    assert items.height == shop.num_items and items.get_column("index").to_list() == list(range(shop.num_items))
    assert items.get_column("item_id").to_list()[:2] == [None, None]
    assert items.get_column("item_id").to_list()[2:] == shop.log.item_vocab.ids
    assert items.get_column("train_count").to_list() == shop.log.training_item_counts().astype(int).tolist()
    assert {"category", "brand", "price"} <= set(items.columns)
    shop_items = shop.interactions.items.select("item_id", "category")
    joined = items.drop_nulls("item_id").join(shop_items, on="item_id", suffix="_shop")
    assert joined.height == shop.num_items - 2 and (joined["category"] == joined["category_shop"]).all()


def test_recommend_maps_original_ids_both_ways(export_of, shop):
    exported = export_of("bert4rec")
    bundle = exported.bundle
    history = shop.log.item_vocab.decode(shop.test.items[0][shop.test.items[0] > 0].tolist())
    encoded = bundle.encode([history, ["no-such-item"], []])
    assert encoded.dtype == torch.long and encoded.shape == (3, len(history))
    assert encoded[0].tolist() == shop.test.items[0][shop.test.items[0] > 0].tolist()
    assert encoded[1, -1] == 1 and (encoded[2] == 0).all()  # unseen id -> unknown; empty -> padding
    with pytest.warns(UnknownItemWarning, match="'no-such-item'"):
        top = bundle.recommend([history, [], ["no-such-item"]], k=5)
    indices, scores = reference(exported.eager_scorer())(encoded, 5)
    assert [item for item, _ in top[0]] == shop.log.item_vocab.decode(indices[0].tolist())
    assert [s for _, s in top[0]] == pytest.approx(scores[0].tolist(), abs=1e-5)
    assert not set(history) & {item for item, _ in top[0]}  # history items are excluded
    popular = shop.log.item_vocab.decode(exported.data.item_counts().argsort(descending=True)[:5].tolist())
    assert {item for item, _ in top[1]} == set(popular) == {item for item, _ in top[2]}


def test_bundle_follows_the_runs_seen_items_protocol(export_of, shop, tmp_path):
    history = shop.log.item_vocab.decode(shop.test.items[0][shop.test.items[0] > 0].tolist())
    everything = shop.num_items - 2  # k = every catalog item: the history is in the list exactly when kept
    default = export_of("gru4rec").bundle  # its config predates the key: excluded, as the scorer always did
    assert default.manifest["protocol"] == {"exclude_seen": True, "seen_items": "seen items excluded"}
    served = {item for item, score in default.recommend([history], k=everything)[0] if score > -math.inf}
    assert not served & set(history) and len(served) == everything - len(set(history))
    config = OmegaConf.create({"model": {"_target_": "xsell.models.GRU4Rec"}, "exclude_seen": False})
    model = export_of("gru4rec").model
    kept = load_bundle(export_model(model, shop, config, tmp_path / "kept",
                                    metrics={"test": {"ndcg@10": 0.5}, "seen_items": "seen items kept"}))
    assert kept.manifest["protocol"] == {"exclude_seen": False, "seen_items": "seen items kept"}
    assert kept.manifest["scorer"]["exclude_history"] is False
    assert set(history) <= {item for item, _ in kept.recommend([history], k=everything)[0]}
    assert "seen items kept." in (tmp_path / "kept" / "README.md").read_text()


def test_hybrid_bundle_takes_event_types_and_time_gaps(export_of):
    bundle = export_of("sasrec_hybrid").bundle
    assert bundle.manifest["scorer"]["context_inputs"] == ["events", "time_gaps"]
    items = torch.tensor([[0, 5, 9]])
    with pytest.raises(torch.jit.Error, match="this model reads events"):
        bundle.scorer(items, 3)
    indices, _ = bundle.scorer(items, 3, None, events=torch.tensor([[0, 2, 3]]), time_gaps=torch.tensor([[0, 1, 4]]))
    assert indices.shape == (1, 3)
    with pytest.warns(UnknownItemWarning):
        assert len(bundle.recommend([["x", "y"]], k=4)[0]) == 4


def test_existing_bundle_is_kept_unless_overwrite(export_of, tmp_path):
    exported = export_of("gru4rec")
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    scorer = exported.eager_scorer()
    with pytest.raises(FileExistsError):
        write_bundle(target, scorer, exported.bundle.items, {"model": {}})
    assert (target / "keep.txt").read_text() == "old"


def test_failed_write_leaves_nothing_behind(export_of, tmp_path, monkeypatch):
    """A write that fails half-way (here: the parity self-check) leaves neither the target nor a temp folder,
    and an existing bundle stays as it was."""
    scorer = TopKScorer(export_of("gru4rec").model, export_of("gru4rec").data.item_counts())
    monkeypatch.setattr(bundle_module, "check_parity",
                        lambda *args: {"scorer.pt": Parity(10, 10, 3, 0.5), "scorer.pt2": Parity(10, 10, 0, 0.0)})
    with pytest.raises(BundleError, match="export parity check failed"):
        write_bundle(tmp_path / "new", scorer, ITEMS, {"model": {}})
    assert list(tmp_path.iterdir()) == []
    old = shutil.copytree(export_of("gru4rec").path, tmp_path / "old")  # an existing bundle

    def fail(scorer):
        raise RuntimeError("export failed")

    monkeypatch.setattr(bundle_module, "to_exported_program", fail)
    with pytest.raises(RuntimeError, match="export failed"):
        write_bundle(old, scorer, ITEMS, {"model": {}}, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert load_bundle(old).manifest == export_of("gru4rec").bundle.manifest  # as it was


SERVE = textwrap.dedent('''
    import json, sys
    import polars as pl
    import torch

    served = {}
    for bundle, inputs in json.loads(sys.argv[1]):
        case = torch.load(inputs, weights_only=True)
        ids = pl.read_parquet(bundle + "/items.parquet").sort("index").get_column("item_id").to_list()
        scripted = torch.jit.load(bundle + "/scorer.pt")
        program = torch.export.load(bundle + "/scorer.pt2").module()
        context = {name: case[name] for name in ("events", "time_gaps") if name in case}
        with torch.no_grad():
            results = {"scorer.pt": scripted(case["items"], 10, None, **context),
                       "scorer.pt2": program(case["items"], 10, case["exclude"], **context)}
        served[bundle] = {name: {"indices": indices.tolist(), "scores": scores.tolist(),
                                 "item_ids": [[ids[i] for i in row] for row in indices.tolist()]}
                          for name, (indices, scores) in results.items()}
    served["xsell_imported"] = any(m == "xsell" or m.startswith("xsell.") for m in sys.modules)
    print(json.dumps(served))
''')


def serving_case(exported) -> dict[str, torch.Tensor]:
    """Six real histories cut to 9 columns, an empty one and one of an unknown item then item 4."""
    real = evaluation_targets(exported.data, "test")
    items = torch.cat([real.items[:6, -9:], torch.tensor([[0] * 9, [0] * 7 + [1, 4]])])  # [8, 9]
    case = {"items": items, "exclude": torch.zeros(len(items), exported.data.num_items, dtype=torch.bool)}
    if exported.hybrid:
        case.update(events=torch.cat([real.events[:6, -9:], items[6:].clamp(max=1)]),
                    time_gaps=torch.cat([real.time_gaps[:6, -9:], items[6:].clamp(max=1)]))
    return case


def test_torch_alone_reproduces_the_eager_top10(export_of, tmp_path):
    """One fresh interpreter with torch and polars only (never importing xsell) serves every model's bundle
    in both formats and returns the eager model's top-10, with original item ids."""
    bundles = {name: export_of(name) for name in ("sasrec", "bert4rec", "gru4rec", "sasrec_hybrid")}
    jobs = []
    for name, exported in bundles.items():
        torch.save(serving_case(exported), tmp_path / f"{name}.pt")
        jobs.append((str(exported.path), str(tmp_path / f"{name}.pt")))
    done = subprocess.run([sys.executable, "-c", SERVE, json.dumps(jobs)], cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert served["xsell_imported"] is False

    for name, exported in bundles.items():
        case = serving_case(exported)
        context = {k: v for k, v in case.items() if k in ("events", "time_gaps")}
        indices, scores = reference(exported.eager_scorer())(case["items"], 10, None, **context)
        expected_ids = [exported.data.log.item_vocab.decode(row) for row in indices.tolist()]
        for fmt in ("scorer.pt", "scorer.pt2"):
            result = served[str(exported.path)][fmt]
            assert result["indices"] == indices.tolist(), (name, fmt)
            assert torch.allclose(torch.tensor(result["scores"]), scores, atol=1e-5, rtol=0), (name, fmt)
            assert result["item_ids"] == expected_ids, (name, fmt)


def test_recommend_encodes_the_request_context_and_user_features():
    """``encode_request`` maps raw values with the manifest's vocabularies (unseen -> unknown) and
    ``recommend`` passes them to a scorer whose model reads them (unknown when left out)."""
    from xsell.data.features import FeatureSpec
    from xsell.export.bundle import Bundle
    from xsell.export.programs import request_inputs
    from xsell.models import SASRec

    torch.manual_seed(0)
    model = SASRec(6, dim=8, layers=1, heads=1, max_len=4, context_specs=[FeatureSpec("device", 4)],
                   user_specs=[FeatureSpec("segment", 3)]).eval()
    scorer = TopKScorer(model, torch.ones(6))
    manifest = {
        "scorer": {"context_inputs": ["context", "user"], "request_inputs": request_inputs(scorer)},
        "data": {"context_features": ["device"], "user_features": ["segment"],
                 "request_values": {"context": {"device": ["mobile", "desktop"]}, "user": {"segment": ["vip"]}}},
    }
    items = pl.DataFrame({"index": range(6), "item_id": [None, None, "a", "b", "c", "d"]})
    bundle = Bundle(path=None, manifest=manifest, scorer=scorer, items=items)
    context = bundle.encode_request("context", [{"device": "desktop"}, {"device": "fridge"}, {}])
    assert context.tolist() == [[3], [1], [1]]
    assert bundle.encode_request("user", [{"segment": "vip"}]).tolist() == [[2]]
    with torch.no_grad():
        expected = scorer(bundle.encode([["a", "b"]]), 2, None, None, None, torch.tensor([[3]]), torch.tensor([[1]]))
    top = bundle.recommend([["a", "b"]], k=2, context=context[:1])  # user left out: unknown
    assert [item for item, _ in top[0]] == bundle.vocabulary.decode(expected[0][0].tolist())
    assert [score for _, score in top[0]] == pytest.approx(expected[1][0].tolist())


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The bundle of the hand-written toy model (items a..d at indices 2..5), written once."""
    return load_bundle(write_bundle(tmp_path_factory.mktemp("toy") / "bundle", TopKScorer(LastItem(), COUNTS),
                                    ITEM_TABLE, MANIFEST))


def test_recommend_returns_only_recommendable_items(toy):
    """After b = [0.9, 0.1], d scores 0.5 and c 0.1; a and b are the history, so k=10 gives those two items only,
    never the history, padding, unknown or a -inf score; no histories give no lists."""
    (top,) = toy.recommend([["a", "b"]], k=10)
    assert [item for item, _ in top] == ["d", "c"] and [s for _, s in top] == pytest.approx([0.5, 0.1])
    with pytest.warns(UnknownItemWarning):
        assert [len(top) for top in toy.recommend([["a"], ["b", "a", "x"], []], k=10)] == [3, 2, 4]
    assert toy.recommend([], k=3) == []


def test_unknown_ids_are_reported_not_silently_served_the_prior(toy):
    """Ids outside the catalog read as unknown, and say so: a history of unknown ids only gets the popularity
    prior (b, the most counted item, first) with an ``UnknownItemWarning`` naming the ids."""
    with pytest.warns(UnknownItemWarning, match=r"2 item id\(s\) not in the bundle's catalog \(4 items, e\.g\. 'a'\)"
                                                r", read as unknown: 'i048', 'x'; 1 of 2 histories have no known"):
        unknown, partly = toy.recommend([["i048", "x"], ["a", "x"]], k=1)
    assert [item for item, _ in unknown] == ["b"] and len(partly) == 1  # b: the most trained-on item
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownItemWarning)
        toy.recommend([["a", "b"]], k=1)  # every id known: silent


def test_both_formats_take_the_same_arguments(toy):
    """``exclude`` is optional for ``scorer.pt`` and (loaded through the bundle) ``scorer.pt2``; empty slots
    are (padding, -inf) in both."""
    items = torch.tensor([[0, 0, 3, 2], [0, 0, 0, 0]])
    program = toy.program()
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[1, 3] = True
    for args in ((items, 10), (items, 10, None), (items, 10, mask)):
        (a, sa), (b, sb) = toy.scorer(*args), program(*args)
        assert torch.equal(a, b) and torch.equal(sa, sb), args
    indices, scores = program(items, 10)
    assert indices[0].tolist() == [5, 4, 0, 0, 0, 0] and scores[0, 2:].eq(float("-inf")).all()


def test_overwrite_replaces_a_bundle_but_never_a_foreign_folder(toy, tmp_path):
    scorer = TopKScorer(LastItem(), COUNTS)
    foreign = tmp_path / "d"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(OutputError, match=f"{foreign} is not empty and not written by xsell: refusing"):
        write_bundle(foreign, scorer, ITEM_TABLE, MANIFEST, overwrite=True)
    assert (foreign / "keep.txt").read_text() == "x" and [p.name for p in tmp_path.iterdir()] == ["d"]
    target = shutil.copytree(toy.path, tmp_path / "bundle")
    write_bundle(target, scorer, ITEM_TABLE, {**MANIFEST, "source_checkpoint": "again"}, overwrite=True)
    assert load_bundle(target).manifest["source_checkpoint"] == "again"


def test_a_killed_exports_leftovers_are_removed_by_the_next_export(tmp_path):
    leftover = tmp_path / ".bundle.k1ll3d.tmp"
    leftover.mkdir()
    (leftover / "scorer.pt").write_bytes(b"half a scorer")
    other = tmp_path / ".other.k1ll3d.tmp"  # another target's temp folder is not ours to remove
    other.mkdir()
    write_bundle(tmp_path / "bundle", TopKScorer(LastItem(), COUNTS), ITEM_TABLE, MANIFEST)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.k1ll3d.tmp", "bundle"]
