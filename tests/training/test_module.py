import math
from functools import partial

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from xsell.baselines import MostPopular
from xsell.data.batch import SequenceBatch
from xsell.data.datamodule import SequenceDataModule
from xsell.data.schema import FIRST_INDEX
from xsell.data.synthetic import synthetic_shop
from xsell.evaluation.protocol import evaluate_scorer
from xsell.models import BERT4Rec, SASRec
from xsell.nn.losses import FullSoftmaxCE, InBatchSoftmax, SampledSoftmax
from xsell.training.module import NextItemModule, future_targets, warmup_cosine

MAX_LEN = 20


def test_warmup_cosine_values():
    # linear warm-up over 10 steps: (step + 1) / 10
    assert [warmup_cosine(s, 110, 10, 0.0) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    # then cosine from 1 down to the floor over the remaining 100 steps, flat after the end
    assert warmup_cosine(10, 110, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(60, 110, 10, 0.0) == pytest.approx(0.5)
    assert warmup_cosine(35, 110, 10, 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert warmup_cosine(110, 110, 10, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(500, 110, 10, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(60, 110, 10, 0.2) == pytest.approx(0.2 + 0.8 * 0.5)
    assert warmup_cosine(0, 100, 0, 0.0) == pytest.approx(1.0)  # no warm-up


@pytest.fixture(scope="module")
def trained():
    """A tiny SASRec (event types and item categories on) trained for a few epochs on a small synthetic shop."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two cores shared with other work: one thread avoids oversubscription
    try:
        pl.seed_everything(0, verbose=False)
        shop = synthetic_shop(n_events=20_000, seed=0)
        dm = SequenceDataModule(shop, max_len=MAX_LEN, batch_size=64, eval_batch_size=512,
                                item_features=["category"], seed=0)
        dm.setup()
        data = dm.prepared
        model = SASRec(data.num_items, dim=64, layers=1, heads=1, dropout=0.1, max_len=MAX_LEN,
                       num_event_types=data.num_event_types, feature_ids=torch.from_numpy(data.item_features.ids),
                       feature_specs=data.item_features.specs)
        # constant learning rate: a few epochs are too short for warm-up + decay to help
        module = NextItemModule(model, optimizer=partial(torch.optim.AdamW, lr=0.01), warmup_fraction=None)
        trainer = pl.Trainer(accelerator="cpu", max_epochs=8, enable_progress_bar=False, logger=False,
                             enable_checkpointing=False, enable_model_summary=False, limit_val_batches=0,
                             num_sanity_val_steps=0)
        trainer.fit(module, datamodule=dm)
        trainer.test(module, datamodule=dm, verbose=False)
        model.eval()
        yield shop, dm, module
    finally:
        torch.set_num_threads(threads)


def test_learns_better_than_popularity(trained):
    _, dm, module = trained
    popularity = evaluate_scorer(MostPopular().fit(dm.prepared.log).score, dm.test_dataloader(), ks=(10,))
    recall = module.results["test"]["recall@10"]
    assert popularity["recall@10"] > 0.0
    assert recall > 1.5 * popularity["recall@10"], (recall, popularity)


def test_logged_metrics_are_those_of_the_score_matrix_path(trained):
    # the module ranks block by block over the catalog; evaluate_scorer ranks a [rows, N] score matrix
    _, dm, module = trained
    expected = evaluate_scorer(module.model.score, dm.test_dataloader(), ks=module.ks)
    assert module.results["test"] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def antecedent_purchases(shop, dm):
    """Histories that end in the purchase of an antecedent category, and each item index's category."""
    truth = shop.ground_truth
    category_of = dict(zip(shop.items["item_id"].to_list(), shop.items["category"].to_list(), strict=True))
    item_category = [None] * FIRST_INDEX + [category_of[i] for i in dm.prepared.log.item_vocab.ids]
    complements = {a: set(truth.complement_categories(a)) for a in truth.complements["antecedent"].unique()}
    log = dm.prepared.log
    purchase = FIRST_INDEX + log.event_types.names.index("purchase")
    rows = np.flatnonzero(log.event == purchase)
    rows = rows[[item_category[i] in complements for i in log.item[rows]]]
    index = rows[:, None] - MAX_LEN + 1 + np.arange(MAX_LEN)[None, :]  # the purchase is the last column
    valid = index >= log.user_start[rows][:, None]
    index = np.where(valid, index, 0)

    def column(values):
        return torch.from_numpy(np.where(valid, values[index], 0).astype(np.int64))

    wanted = [complements[item_category[i]] for i in log.item[rows]]
    return column(log.item), column(log.event), column(log.time_gap), wanted, item_category


def test_recommends_complements_after_an_antecedent_purchase(trained):
    shop, dm, module = trained
    items, events, gaps, wanted, item_category = antecedent_purchases(shop, dm)
    assert len(wanted) > 100
    model = module.model
    with torch.no_grad():
        scores = model.encode_sequence(items, events, gaps) @ model.item_embeddings().T
    scores[:, :FIRST_INDEX] = float("-inf")
    top = scores.topk(10).indices.tolist()
    hits = [any(item_category[i] in categories for i in row) for row, categories in zip(top, wanted, strict=True)]
    popular = MostPopular().fit(dm.prepared.log).counts
    popular[:FIRST_INDEX] = -1
    popular_top = popular.topk(10).indices.tolist()
    popular_hits = [any(item_category[i] in categories for i in popular_top) for categories in wanted]
    assert np.mean(hits) > 0.6, np.mean(hits)
    assert np.mean(hits) > np.mean(popular_hits) + 0.15, (np.mean(hits), np.mean(popular_hits))


def test_training_step_uses_labelled_positions_only():
    torch.manual_seed(0)
    model = SASRec(12, dim=8, layers=1, heads=1, dropout=0.0, max_len=4)
    module = NextItemModule(model)
    items = torch.tensor([[0, 2, 3, 4], [5, 6, 7, 8]])
    labels = torch.tensor([[0, 3, 4, 9], [6, 7, 8, 0]])  # 0: no label (padding, or no next event)
    batch = SequenceBatch(items=items, events=items.clamp(max=1), time_gaps=items.clamp(max=1), labels=labels)
    with pytest.warns(UserWarning, match="self.log"):  # no trainer attached
        loss = module.training_step(batch, 0)
    hidden = model.sequence_output(batch.items, batch.events, batch.time_gaps)
    logits = hidden[labels > 0] @ model.item_embeddings()[FIRST_INDEX:].T
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits, labels[labels > 0] - FIRST_INDEX))


def test_item_counts_prepare_the_sampler():
    model = SASRec(6, dim=4, layers=1, heads=1, max_len=3)
    loss = SampledSoftmax(num_negatives=2, proposal="popularity")
    NextItemModule(model, loss=loss, item_counts=torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0, 0.0]))
    torch.testing.assert_close(loss.probabilities[:5], torch.tensor([0.0, 0.0, 0.25, 0.25, 0.5]), atol=1e-8, rtol=0)


def test_future_targets_are_the_next_events_of_the_window_with_decayed_weights():
    labels = torch.tensor([[0, 5, 6, 7], [3, 4, 0, 0]])
    future, weights = future_targets(labels, window=3, decay=0.5)
    assert future.tolist() == [[[0, 5, 6], [5, 6, 7], [6, 7, 0], [7, 0, 0]],
                               [[3, 4, 0], [4, 0, 0], [0, 0, 0], [0, 0, 0]]]
    torch.testing.assert_close(weights[0, 1], torch.tensor([4.0, 2.0, 1.0]) / 7)  # 1, 0.5, 0.25 normalised
    torch.testing.assert_close(weights[0, 2], torch.tensor([2.0, 1.0, 0.0]) / 3)  # no event after the window
    torch.testing.assert_close(weights[0, 3], torch.tensor([1.0, 0.0, 0.0]))


def test_training_step_with_future_targets_is_soft_cross_entropy():
    torch.manual_seed(0)
    model = SASRec(12, dim=8, layers=1, heads=1, dropout=0.0, max_len=4)
    module = NextItemModule(model, future_targets=2, future_decay=0.5)
    items = torch.tensor([[0, 2, 3, 4], [5, 6, 7, 8]])
    labels = torch.tensor([[0, 3, 4, 9], [6, 7, 8, 0]])
    batch = SequenceBatch(items=items, events=items.clamp(max=1), time_gaps=items.clamp(max=1), labels=labels)
    with pytest.warns(UserWarning, match="self.log"):
        loss = module.training_step(batch, 0)
    hidden = model.sequence_output(batch.items, batch.events, batch.time_gaps)
    log_p = torch.log_softmax(hidden @ model.item_embeddings()[FIRST_INDEX:].T, dim=-1)  # [B, L, N - 2]
    # Per labelled position: the next event weighted 2/3 and the one after 1/3, or the next alone at the end.
    rows = [(0, 1, [3, 4]), (0, 2, [4, 9]), (0, 3, [9]), (1, 0, [6, 7]), (1, 1, [7, 8]), (1, 2, [8])]
    expected = []
    for b, t, targets in rows:
        weights = [2 / 3, 1 / 3] if len(targets) == 2 else [1.0]
        expected.append(-sum(w * log_p[b, t, y - FIRST_INDEX] for w, y in zip(weights, targets, strict=True)))
    torch.testing.assert_close(loss, torch.stack(expected).mean())


def test_future_targets_need_a_causal_model_and_a_soft_target_loss():
    with pytest.raises(ValueError, match="causal model"):
        NextItemModule(BERT4Rec(10, dim=8, layers=1, heads=1, max_len=4), future_targets=3)
    with pytest.raises(ValueError, match="soft targets"):
        NextItemModule(SASRec(10, dim=8, layers=1, heads=1, max_len=4), loss=SampledSoftmax(2), future_targets=3)
    with pytest.raises(ValueError, match="future_decay"):
        NextItemModule(SASRec(10, dim=8, layers=1, heads=1, max_len=4), future_targets=2, future_decay=0.0)
    NextItemModule(SASRec(10, dim=8, layers=1, heads=1, max_len=4), loss=FullSoftmaxCE(), future_targets=3)


class LargestOutput(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the largest tensor any operator returns while active (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.numel, self.shape = 0, ()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        for value in torch.utils._pytree.tree_leaves(out):
            if isinstance(value, torch.Tensor) and value.numel() > self.numel:
                self.numel, self.shape = value.numel(), tuple(value.shape)
        return out


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")  # a training step without a Trainer
@pytest.mark.parametrize("loss", [SampledSoftmax(num_negatives=64), InBatchSoftmax(uniform_negatives=64),
                                  FullSoftmaxCE()])
def test_sampled_losses_never_score_the_whole_catalog_in_a_training_step(loss):
    # 20,000 items of 8 dimensions: the item table has 160,000 entries, while the logits of the 64 labelled
    # positions against the catalog would have 1,280,000; only the full softmax may build those (in chunks).
    num_items, batch, length = 20_000, 8, 8
    generator = torch.Generator().manual_seed(0)
    items = torch.randint(FIRST_INDEX, num_items, (batch, length), generator=generator)
    labels = torch.randint(FIRST_INDEX, num_items, (batch, length), generator=generator)
    training = SequenceBatch(items=items, events=torch.zeros_like(items), time_gaps=torch.zeros_like(items),
                             labels=labels)
    model = SASRec(num_items, dim=8, layers=1, heads=1, max_len=length)
    module = NextItemModule(model, loss=loss, item_counts=torch.ones(num_items))
    with LargestOutput() as largest:
        module.training_step(training, 0).backward()
    assert model.input.items.ids.weight.grad is not None
    if isinstance(loss, FullSoftmaxCE):
        assert largest.numel >= batch * length * num_items  # the check sees full logits when there are some
    else:
        assert largest.numel <= num_items * 8, largest.shape  # the item table (and its gradient) at most
