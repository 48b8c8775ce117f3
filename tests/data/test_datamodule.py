import polars as pl
import pytest
import torch

from xsell.data.datamodule import SequenceDataModule
from xsell.data.interactions import Interactions
from xsell.errors import EmptyDataError

EVENTS = pl.DataFrame({
    "user_id": list("aaaaaabbbcc"),
    "item_id": list("uvwxyzwxywz"),
    "timestamp": [1, 2, 3, 4, 5, 6, 1, 5, 9, 2, 3],
    "event": ["view", "cart", "purchase", "view", "view", "view", "view", "cart", "view", "view", "view"],
})
ITEMS = pl.DataFrame({"item_id": list("uvwxyz"), "category": list("ababab")})


def module(**kwargs):
    dm = SequenceDataModule(Interactions(EVENTS, items=ITEMS, name="tiny"), max_len=3, batch_size=2, **kwargs)
    dm.setup()
    return dm


def test_causal_batches():
    dm = module(item_features=["category"])
    batches = list(dm.train_dataloader())
    assert sum(len(b) for b in batches) == 2  # a: one window of 3 inputs; c: one window
    rows = {tuple(r) for b in batches for r in torch.cat([b.items, b.labels], dim=1).tolist()}
    # a training u v w x -> inputs [u v w], labels [v w x]; c: inputs [pad pad w] -> labels [pad pad z]
    assert rows == {(3, 4, 2, 4, 2, 5), (0, 0, 2, 0, 0, 6)}
    b = batches[0]
    assert b.items.dtype == torch.int64 and b.item_features.shape == (len(b), 3, 1)
    assert b.events.shape == b.items.shape and b.time_gaps.shape == b.items.shape


def test_evaluation_batches_carry_targets_and_exclusions():
    dm = module()
    (batch,) = list(dm.test_dataloader())
    assert batch.target.tolist() == [6, 1]
    assert batch.items.tolist() == [[2, 5, 1], [0, 2, 5]]
    assert batch.exclude.tolist() == [[3, 4, 2, 5, 1], [2, 5, 0, 0, 0]]
    assert batch.target_event.tolist() == [2, 2]  # a's z and b's y were views


def test_cloze_masks_with_mask_index_and_labels_hidden_items():
    dm = module(objective="cloze", mask_prob=0.5, seed=3)
    for batch in dm.train_dataloader():
        masked = batch.items == dm.prepared.mask_index
        assert masked.any(dim=1).all()
        assert (batch.labels[masked] > 1).all() and (batch.labels[~masked] == 0).all()


def test_cloze_rows_that_hide_only_their_last_item():
    plain = [b.items.tolist() for b in module(objective="cloze", mask_prob=0.5, seed=3).train_dataloader()]
    off = module(objective="cloze", mask_prob=0.5, mask_last_prob=0.0, seed=3)
    assert [b.items.tolist() for b in off.train_dataloader()] == plain  # off by default, same random stream
    always = module(objective="cloze", mask_prob=0.5, mask_last_prob=1.0, seed=3)
    for batch in always.train_dataloader():
        assert (batch.labels[:, :-1] == 0).all() and (batch.items[:, -1] == always.prepared.mask_index).all()
        assert (batch.labels[:, -1] > 1).all()
    # mask_prob=1 hides every item unless the row was drawn to hide only its last one
    half = module(objective="cloze", mask_prob=1.0, mask_last_prob=0.5, seed=3)
    windows = half.train_set
    rows = [i for i in range(len(windows)) if windows.lengths[i] >= 2]
    last_only = [int((windows[rows].labels > 0).sum(1).eq(1).sum()) for _ in range(200)]
    assert 0.4 < sum(last_only) / (200 * len(rows)) < 0.6


def restored(batch, mask_index):
    """A Cloze batch's windows as they were before masking, one tuple of items per row (padding dropped)."""
    items = torch.where(batch.items == mask_index, batch.labels, batch.items)
    return [tuple(item for item in row if item) for row in items.tolist()]


def test_cloze_copies_enter_each_window_several_times_per_epoch_masked_anew():
    once = module(objective="cloze", mask_prob=0.5, cloze_copies=1, seed=3)
    windows = sorted(w for b in once.train_dataloader() for w in restored(b, once.prepared.mask_index))
    dm = module(objective="cloze", mask_prob=0.5, cloze_copies=20, seed=3)
    assert len(dm.train_set) == 20 * len(once.train_set)
    batches = list(dm.train_dataloader())
    assert sorted(w for b in batches for w in restored(b, dm.prepared.mask_index)) == sorted(windows * 20)
    masks = {}
    for batch in batches:
        for window, labels in zip(restored(batch, dm.prepared.mask_index), batch.labels.tolist(), strict=True):
            masks.setdefault(window, set()).add(tuple(label > 0 for label in labels[-len(window):]))
    # 20 draws of a window of 2 or 3 items at mask rate 0.5 (at least one masked): all alike, p < 1e-4
    longer = [patterns for window, patterns in masks.items() if len(window) >= 2]
    assert len(longer) >= 2 and all(len(patterns) > 1 for patterns in longer), masks


def test_cloze_copies_are_seeded_and_leave_causal_windows_alone():
    def epoch(**kwargs):
        return [(b.items.tolist(), b.labels.tolist()) for b in module(**kwargs).train_dataloader()]

    assert epoch(objective="cloze", cloze_copies=4, seed=1) == epoch(objective="cloze", cloze_copies=4, seed=1)
    assert epoch(objective="cloze", cloze_copies=4, seed=1) != epoch(objective="cloze", cloze_copies=4, seed=2)
    assert epoch(cloze_copies=4, seed=1) == epoch(seed=1)  # causal windows: one per epoch, as before
    assert len(module(objective="cloze").train_set) == 10 * len(module(objective="cloze", cloze_copies=1).train_set)
    with pytest.raises(ValueError, match="copies"):
        module(objective="cloze", cloze_copies=0)


def test_training_order_is_seeded():
    first = [b.items.tolist() for b in module(seed=1).train_dataloader()]
    again = [b.items.tolist() for b in module(seed=1).train_dataloader()]
    assert first == again


def test_empty_after_filtering_is_a_clear_error():
    with pytest.raises(EmptyDataError, match="source=tiny"):
        module(min_user_events=50, min_item_events=1)


def test_a_log_without_training_windows_or_targets_is_a_clear_error():
    """One event per user: nothing to train on or evaluate, said with the counts (not a torch reduction error)."""
    one_each = pl.DataFrame({"user_id": [f"u{i}" for i in range(20)], "item_id": [f"i{i % 4}" for i in range(20)],
                             "timestamp": list(range(20))})
    with pytest.raises(EmptyDataError, match=r"the leave_one_out split yields no training windows \(training "
                                             r"windows: 0, validation targets: 0, test targets: 0\).*source=ones"):
        SequenceDataModule(Interactions(one_each, name="ones"), max_len=3).setup()


def test_catalog_items_index_untrained_items_after_the_trained_ones():
    items = pl.concat([ITEMS, pl.DataFrame({"item_id": ["q"], "category": ["c"]})])
    dm = SequenceDataModule(Interactions(EVENTS, items=items, name="tiny"), max_len=3, batch_size=2,
                            item_features=["category"], catalog_items=True)
    dm.setup()
    plain = module(item_features=["category"])
    vocab, trained = dm.prepared.log.item_vocab, plain.prepared.log.item_vocab
    assert vocab.ids[:trained.num_known] == trained.ids  # trained items keep their indices
    assert set(vocab.ids[trained.num_known:]) == set("uvwxyzq") - set(trained.ids)  # then every untrained item
    assert "q" in vocab.ids
    assert (dm.prepared.item_counts()[len(trained):] == 0).all()
    (batch,) = list(dm.test_dataloader())
    assert 1 not in batch.target.tolist()  # the target unknown to training is now rankable
    assert (dm.prepared.item_features.ids[len(trained):, 0] >= 2).all()  # with its own features


def test_catalog_items_without_item_table_are_the_items_the_log_names():
    dm = SequenceDataModule(Interactions(EVENTS, name="tiny"), max_len=3, batch_size=2, catalog_items=True)
    dm.setup()
    trained = module().prepared.log.item_vocab
    vocab = dm.prepared.log.item_vocab
    assert vocab.ids[:trained.num_known] == trained.ids
    assert set(vocab.ids) == set(EVENTS["item_id"])  # validation/test-only items too, each once
    assert len(vocab.ids) == len(set(vocab.ids))
    (batch,) = list(dm.test_dataloader())
    assert 1 not in batch.target.tolist()
