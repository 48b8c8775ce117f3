"""The hybrid: the scorer contract, no test-target leakage, -inf outside the candidates, determinism, and
better than its best generator on the synthetic shop's planted structure."""

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
import torch

import xsell.data as xd
from tests.baselines.common import tiny_datamodule
from tests.ranking.common import generators, hybrid
from xsell.data.datamodule import SequenceDataModule
from xsell.data.sequences import pack_targets, seen_items
from xsell.data.splits import HELD_OUT, TEST, TRAIN, VALIDATION, LeakageError
from xsell.evaluation.protocol import evaluate_scorer
from xsell.ranking.hybrid import _earlier_target_log
from xsell.ranking.ranker import RankerMLP


def datamodule(events: pl.DataFrame | None = None, seed: int = 0) -> SequenceDataModule:
    shop = xd.synthetic_shop(n_events=20_000, seed=seed)
    data = shop if events is None else replace(shop, events=events)
    dm = SequenceDataModule(data, max_len=20)
    dm.setup()
    return dm


@pytest.fixture(scope="module")
def shop_dm():
    return datamodule()


@pytest.fixture(scope="module")
def fitted(shop_dm):
    return hybrid().fit(shop_dm.prepared.log)


def test_scores_every_item_through_the_protocol(shop_dm, fitted):
    batch = next(iter(shop_dm.test_dataloader()))
    scores = fitted.score(batch)
    assert scores.shape == (len(batch), len(shop_dm.prepared.log.item_vocab)) and scores.dtype == torch.float32
    metrics = evaluate_scorer(fitted.score, shop_dm.test_dataloader(), ks=(10,))
    assert 0.0 < metrics["ndcg@10"] <= metrics["recall@10"] <= 1.0
    with pytest.raises(RuntimeError, match="fit"):
        hybrid().score(batch)


def test_items_outside_the_candidates_score_minus_infinity(shop_dm, fitted):
    batch = next(iter(shop_dm.test_dataloader()))
    scores = fitted.score(batch)
    hidden = fitted._hidden(batch.items, batch.exclude, fitted.module.num_items)
    candidates, valid, _, _ = fitted.module.candidates(batch.items, hidden)
    union = torch.zeros(hidden.shape).scatter_add(1, candidates, valid.float()) > 0  # [B, N] a valid slot holds it
    assert torch.equal(torch.isfinite(scores), union)
    assert (union.sum(1) <= 3 * 20).all() and (union.sum(1) >= 20).all()


def test_the_ranker_learns_from_validation_targets_only(shop_dm, fitted):
    log = shop_dm.prepared.log
    assert (log.part[fitted.training_rows] == VALIDATION).all()
    assert len(fitted.training_rows) == int((log.part == VALIDATION).sum())


def test_test_targets_change_nothing(shop_dm, fitted):
    # Another item at every test target: stage 1 and the ranker must be exactly the same model.
    events = shop_dm.prepared.split.events
    last = pl.col("part") == TEST
    rng = np.random.default_rng(0)
    others = rng.choice(shop_dm.prepared.log.item_vocab.ids, size=len(events))
    changed = events.with_columns(pl.when(last).then(pl.Series(others)).otherwise(pl.col("item_id"))
                                  .alias("item_id")).drop("part", "position")
    other = datamodule(changed)
    assert other.prepared.log.item_vocab == shop_dm.prepared.log.item_vocab
    assert not np.array_equal(other.prepared.log.item[other.prepared.log.part == TEST], shop_dm.prepared.log.item[shop_dm.prepared.log.part == TEST])
    refit = hybrid().fit(other.prepared.log)
    for mine, theirs in zip(shop_dm.val_dataloader(), other.val_dataloader(), strict=True):
        torch.testing.assert_close(fitted.score(mine), refit.score(theirs), rtol=0, atol=0)


def test_a_split_with_test_events_before_validation_targets_is_refused(shop_dm):
    log = replace(shop_dm.prepared.log, part=shop_dm.prepared.log.part.copy())
    first_validation = np.flatnonzero(log.part == VALIDATION)[0]
    log.part[first_validation - 1] = TEST  # a test event inside a validation history
    with pytest.raises(LeakageError, match="test event"):
        hybrid().fit(log)


def test_the_same_seed_gives_the_same_model(shop_dm, fitted):
    batch = next(iter(shop_dm.test_dataloader()))
    torch.testing.assert_close(hybrid().fit(shop_dm.prepared.log).score(batch), fitted.score(batch), rtol=0, atol=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_beats_its_best_generator_on_the_planted_structure(seed, shop_dm):
    # The shop plants repeat events (a view, then the cart, then the purchase of the same item) beside
    # complements; no single generator reads both, the ranker does (generator scores + repeats in history).
    dm = shop_dm if seed == 0 else datamodule(seed=seed)
    best = max(evaluate_scorer(g.fit(dm.prepared.log).score, dm.test_dataloader(), ks=(10,))["ndcg@10"]
               for g in generators())
    model = hybrid(seed=seed, epochs=10).fit(dm.prepared.log)
    assert evaluate_scorer(model.score, dm.test_dataloader(), ks=(10,))["ndcg@10"] > 1.2 * best


def test_earlier_targets_hold_out_each_users_later_events():
    # users a: 5 events (3 train, val, test), b: 4 (2 train, val, test), c: 2 (train only)
    dm = tiny_datamodule({"a": ["x", "y", "z", "x", "v"], "b": ["y", "z", "v", "w"], "c": ["w", "x"]})
    log = dm.prepared.log
    T, V, H = TRAIN, VALIDATION, HELD_OUT
    first = _earlier_target_log(log, 1).part
    second = _earlier_target_log(log, 2).part
    by_user = {u: np.flatnonzero(log.user == log.user_vocab.index(u)) for u in "abc"}
    assert first[by_user["a"]].tolist() == [T, T, V, H, H] and second[by_user["a"]].tolist() == [T, V, H, H, H]
    assert first[by_user["b"]].tolist() == [T, V, H, H] and second[by_user["b"]].tolist() == [H, H, H, H]
    assert first[by_user["c"]].tolist() == [T, V] and second[by_user["c"]].tolist() == [H, H]


def test_earlier_targets_train_on_training_events_only(shop_dm):
    model = hybrid(earlier_targets=2).fit(shop_dm.prepared.log)
    parts = shop_dm.prepared.log.part[model.training_rows]
    assert set(parts.tolist()) == {TRAIN, VALIDATION}
    assert model.fit_report["earlier_requests"] == int((parts == TRAIN).sum()) > 0


def test_holdout_one_keeps_validation_out_of_training(shop_dm):
    model = hybrid(earlier_targets=1, holdout=1.0).fit(shop_dm.prepared.log)
    assert model.fit_report["holdout_requests"] == int((shop_dm.prepared.log.part == VALIDATION).sum())
    assert model.fit_report["train_requests"] == model.fit_report["earlier_retrieved"]
    with pytest.raises(ValueError, match="earlier_targets"):
        hybrid(holdout=1.0).fit(shop_dm.prepared.log)



@pytest.mark.parametrize("exclude_seen", [True, False])
def test_history_items_are_ranker_negatives_only_when_the_protocol_ranks_them(shop_dm, exclude_seen):
    model = hybrid(exclude_seen=exclude_seen)
    log = shop_dm.prepared.log
    ranker = RankerMLP(3 * len(model.baselines) + 3, model.hidden, None)
    rows, _ = model._ranker_rows(log, model._stage_one(log, model.baselines, ranker))
    packed = pack_targets(log, VALIDATION, model.max_len)
    history = torch.from_numpy(seen_items(log, packed, np.arange(len(packed))))  # [R, M]
    in_history = (rows.items.unsqueeze(2) == history.unsqueeze(1)).any(2)  # [R, C]
    target = torch.from_numpy(packed.target.astype(np.int64)).unsqueeze(1)  # [R, 1]
    seen_negative = in_history & (rows.items != target) & (rows.items > 0)
    assert seen_negative.any()  # history items are candidates (history_candidates) that are not the target
    assert bool((rows.valid & seen_negative).any()) is (not exclude_seen)
