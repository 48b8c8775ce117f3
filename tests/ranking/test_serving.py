"""The compiled hybrid ranks like the eager one, and its two-stage bundle is verified before it loads."""

from dataclasses import replace
from functools import partial

import pytest
import torch

import xsell.data as xd
from tests.ranking.common import hybrid
from xsell.data.datamodule import SequenceDataModule
from xsell.errors import BundleError
from xsell.export.parity import check_parity
from xsell.ranking.serving import (
    MANIFEST,
    SCORER,
    compile_hybrid,
    eager_topk,
    load_hybrid_bundle,
    parity_batches,
    write_hybrid_bundle,
)


@pytest.fixture(scope="module")
def shop():
    dm = SequenceDataModule(xd.synthetic_shop(n_events=6_000, seed=3), max_len=20)
    dm.setup()
    return dm


@pytest.mark.parametrize("history_candidates", [True, False])
def test_the_scripted_scorer_ranks_like_the_eager_hybrid(shop, history_candidates):
    model = hybrid(history_candidates=history_candidates, epochs=3).fit(shop.prepared.log)
    scripted = compile_hybrid(model)
    batches = parity_batches(model, seed=1)
    parity = check_parity({"torchscript": scripted}, partial(eager_topk, model), batches, 15)
    assert parity["torchscript"].ok(), parity
    indices, scores = scripted(batches[1]["items"], 15, batches[1]["exclude"])
    history = batches[1]["items"]
    assert not (indices.unsqueeze(2) == history.clamp(max=model.module.num_items - 1).unsqueeze(1)).any()
    assert ((indices == 0) == torch.isinf(scores)).all() and (indices != 1).all()


def test_the_request_context_reaches_the_ranker_and_the_scorer():
    dm = SequenceDataModule(xd.synthetic_shop(n_events=6_000, seed=3), max_len=20,
                            context_features=["device", "time_of_day"])
    dm.setup()
    model = hybrid(epochs=2).fit(dm.prepared.log)
    assert model.context_columns == ["device", "time_of_day"] and model.module.ranker.uses_context
    batch = next(iter(dm.test_dataloader()))
    other = replace(batch, context=batch.context.flip(0))  # the same histories, other requests' context
    assert not torch.equal(model.score(batch), model.score(other))
    batches = parity_batches(model, seed=2)
    assert batches[0]["context"].shape == (1, 2)
    parity = check_parity({"torchscript": compile_hybrid(model)}, partial(eager_topk, model), batches, 10)
    assert parity["torchscript"].ok(), parity
    with pytest.raises(torch.jit.Error, match="context"):  # TorchScript raises its ValueError as jit.Error
        compile_hybrid(model)(batches[0]["items"], 5)


def test_the_eager_reference_is_the_evaluated_path(shop):
    # eager_topk must rank by HybridRanker.score: the top item of each row is its best-scored eligible item.
    model = hybrid(epochs=2).fit(shop.prepared.log)
    batch = next(iter(shop.test_dataloader()))
    scores = model.score(batch)
    indices, values = eager_topk(model, batch.items, 1)
    assert torch.equal(values[:, 0], scores.gather(1, indices).squeeze(1))


def test_bundle_round_trip_and_tampering(shop, tmp_path):
    model = hybrid(epochs=2).fit(shop.prepared.log)
    path = write_hybrid_bundle(tmp_path / "bundle", model, shop.prepared.log.item_vocab)
    scorer, items, manifest = load_hybrid_bundle(path)
    assert manifest["parity"]["index_mismatches"] == 0 and len(items) == model.module.num_items
    history = torch.tensor([[0, 2, 5, 7]])
    torch.testing.assert_close(scorer(history, 5), eager_topk(model, history, 5))
    with pytest.raises(FileExistsError):
        write_hybrid_bundle(path, model, shop.prepared.log.item_vocab)
    (path / SCORER).write_bytes((path / SCORER).read_bytes() + b"x")
    with pytest.raises(BundleError, match="scorer.pt"):
        load_hybrid_bundle(path)
    (path / MANIFEST).write_text("{}")
    with pytest.raises(BundleError, match="format"):
        load_hybrid_bundle(path)
