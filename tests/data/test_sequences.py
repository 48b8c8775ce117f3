import numpy as np
import polars as pl
import pytest

from xsell.data.sequences import (
    NUM_TIME_GAP_BUCKETS,
    encode_split,
    pack_targets,
    pack_training_windows,
    seen_items,
    time_gap_buckets,
)
from xsell.data.splits import TEST, VALIDATION, leave_one_out

# a: u v w x y z (y never in training), b: w x y, c: w z
LOG = pl.DataFrame({
    "user_id": list("aaaaaabbbcc"),
    "item_id": list("uvwxyzwxywz"),
    "timestamp": [1, 2, 3, 4, 5, 6, 1, 5, 9, 2, 3],
})


def encoded():
    return encode_split(leave_one_out(LOG))


def test_vocabulary_is_fitted_on_training_only():
    log = encoded()
    # training events: a: u v w x, b: w, c: w z -> w (3), then u v x z (1 each, by id)
    assert log.item_vocab.ids == ["w", "u", "v", "x", "z"]
    assert "y" not in log.item_vocab
    assert log.item.tolist() == [3, 4, 2, 5, 1, 6, 2, 5, 1, 2, 6]
    assert log.part.tolist() == [0, 0, 0, 0, 1, 2, 0, 1, 2, 0, 0]
    assert log.user_start.tolist() == [0] * 6 + [6] * 3 + [9] * 2


def test_causal_windows_cover_every_training_event_once():
    windows = pack_training_windows(encoded(), max_len=2)
    # a's training items u v w x = 3 4 2 5 -> windows from the end: [v w x], [pad u v]; b has 1 event: none
    assert windows.items.tolist() == [[4, 2, 5], [0, 3, 4], [0, 2, 6]]
    inputs, labels = windows.items[:, :-1], windows.items[:, 1:]
    labelled = labels[inputs > 0]  # a label needs at least one input before it
    assert sorted(labelled.tolist()) == sorted([4, 2, 5, 6])  # every training event but each user's first
    assert windows.users.tolist() == [2, 2, 4]


def test_cloze_windows_do_not_overlap():
    windows = pack_training_windows(encoded(), max_len=2, shift=0)
    assert windows.items.tolist() == [[2, 5], [3, 4], [0, 2], [2, 6]]


def test_targets_carry_left_padded_history_and_full_seen_set():
    log = encoded()
    test = pack_targets(log, TEST, max_len=3)
    assert test.target.tolist() == [6, 1]  # z; y is unknown to the vocabulary
    assert test.items.tolist() == [[2, 5, 1], [0, 2, 5]]
    assert seen_items(log, test, np.arange(2)).tolist() == [[3, 4, 2, 5, 1], [2, 5, 0, 0, 0]]
    validation = pack_targets(log, VALIDATION, max_len=3)
    assert validation.items.tolist() == [[4, 2, 5], [0, 0, 2]]


def test_time_gap_buckets():
    frame = pl.DataFrame({"u": ["a"] * 5 + ["b"], "t": [0, 0, 1, 3, 10**12, 7]})
    buckets = frame.select(time_gap_buckets(pl.col("t"), pl.col("u"))).to_series().to_list()
    # first event -> 1; gap 0 -> 2 + log2(1) = 2; gap 1 -> 3; gap 2 -> 2 + floor(log2 3) = 3; huge -> capped
    assert buckets == [1, 2, 3, 3, NUM_TIME_GAP_BUCKETS - 1, 1]


def test_strided_windows_train_every_event_once_with_long_histories():
    from xsell.data.datasets import TrainingWindows

    log = encode_split(leave_one_out(pl.DataFrame(  # one user, 10 training events, then validation and test
        {"user_id": ["u"] * 12, "item_id": [f"i{k:02d}" for k in range(12)], "timestamp": list(range(12))})))
    packed = pack_training_windows(log, max_len=4, stride=2)
    assert len(packed) == 5  # ceil((10 - 1) / 2) windows, each ending 2 events earlier than the next
    windows = TrainingWindows(packed, None, "causal", stride=2)
    batch = windows[list(range(len(windows)))]
    labelled = batch.labels[batch.labels != 0]
    assert sorted(labelled.tolist()) == sorted(log.item[1:10].tolist())  # every training event once
    full = batch.labels[:, -2:] != 0
    history = (batch.items != 0).sum(1)
    assert full[:-1].all() and full[-1].sum() == 1  # 9 labels: 2 per window, the oldest holds the rest
    assert history.tolist() == [4, 4, 4, 3, 1]  # a labelled event sees >= max_len - stride + 1 = 3 events


def test_stride_is_checked():
    log = encoded()
    with pytest.raises(ValueError, match="stride"):
        pack_training_windows(log, max_len=4, stride=5)
    with pytest.raises(ValueError, match="stride"):
        pack_training_windows(log, max_len=4, shift=0, stride=2)
