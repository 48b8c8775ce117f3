"""Per-event context ids and their alignment in training and evaluation batches (the request's context,
never the predicted item)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from xsell.data.context import SESSION_LENGTH, encode_context
from xsell.data.datamodule import SequenceDataModule
from xsell.data.interactions import Interactions
from xsell.data.splits import PART, TEST, TRAIN, VALIDATION
from xsell.errors import SchemaError

# One user, 7 events in two sessions; device "tv" first appears in the test event.
EVENTS = pl.DataFrame({
    "user_id": ["a"] * 7,
    "item_id": ["i1", "i2", "i3", "i4", "i5", "i6", "i7"],
    "timestamp": [10, 20, 30, 5000, 5010, 5020, 5030],
    "session_id": ["s1", "s1", "s1", "s2", "s2", "s2", "s2"],
    "device": ["mobile", "mobile", "mobile", "desktop", None, "desktop", "tv"],
})


def split_log() -> pl.DataFrame:
    return EVENTS.with_columns(pl.Series(PART, [TRAIN] * 5 + [VALIDATION, TEST], dtype=pl.Int8))


def test_context_ids_are_fitted_on_training_rows_and_missing_is_unknown():
    ids, specs, values = encode_context(split_log(), ["device", SESSION_LENGTH])
    assert [s.name for s in specs] == ["device", SESSION_LENGTH]
    assert values[0] == ["mobile", "desktop"] and values[1][:3] == ["0", "1", "2"]
    # training devices: mobile x3 (index 2), desktop x1 (index 3); None -> unknown 1; "tv" (test only) -> 1
    assert ids[:, 0].tolist() == [2, 2, 2, 3, 1, 3, 1]
    assert specs[0].cardinality == 4
    # earlier events of the same session: 0, 1, 2 | 0, 1, 2, 3 -> buckets "0", "1", "2", "3-4" = 2, 3, 4, 5
    assert ids[:, 1].tolist() == [2, 3, 4, 2, 3, 4, 5]
    assert ids.dtype == np.int32


def test_a_missing_context_column_is_a_schema_error():
    with pytest.raises(SchemaError, match="time_of_day"):
        encode_context(split_log(), ["time_of_day"])
    with pytest.raises(SchemaError, match="session_id"):
        encode_context(split_log().drop("session_id"), [SESSION_LENGTH])


def datamodule(objective: str = "causal") -> SequenceDataModule:
    users = pl.DataFrame({"user_id": ["a"], "segment": ["vip"]})
    module = SequenceDataModule(Interactions(EVENTS, users=users), max_len=4, batch_size=8, objective=objective,
                                context_features=["device", SESSION_LENGTH], user_features=["segment"])
    module.setup()
    return module


def test_causal_batches_carry_the_context_of_the_predicted_event():
    module = datamodule()
    batch = module.train_set[list(range(len(module.train_set)))]
    # training events 1..5 -> inputs i1..i4 predicting i2..i5; context = that of i2..i5
    assert batch.items.tolist() == [[2, 3, 4, 5]] and batch.labels.tolist() == [[3, 4, 5, 6]]
    device, session = batch.context[0, :, 0].tolist(), batch.context[0, :, 1].tolist()
    assert device == [2, 2, 3, 1] and session == [3, 4, 2, 3]
    assert batch.user_features.tolist() == [[2]]
    data = module.prepared
    assert data.context_specs[1].name == SESSION_LENGTH and data.user_specs[0].name == "segment"
    assert data.request_values()["context"]["device"] == ["mobile", "desktop"]
    assert data.request_values()["user"] == {"segment": ["vip"]}


def test_evaluation_batches_end_with_the_targets_context():
    module = datamodule()
    test = module.test_set[[0]]
    assert test.context[0, -1].tolist() == [1, 5]  # the test event's own device ("tv": unknown) and position
    validation = module.val_set[[0]]
    assert validation.context[0, -1].tolist() == [3, 4]  # the validation event: desktop, third in session
    assert validation.context[0, :-1, 0].tolist() == [2, 3, 1][-(validation.items.shape[1] - 1):]


def test_cloze_batches_carry_each_positions_own_context():
    module = datamodule("cloze")
    batch = module.train_set[[0]]
    assert batch.context[0, :, 0].tolist()[-4:] == [2, 2, 3, 1]  # events i2..i5 (the window of the last 4)


def test_context_features_are_off_by_default():
    module = SequenceDataModule(Interactions(EVENTS), max_len=4)
    module.setup()
    batch = module.train_set[[0]]
    assert batch.context is None and batch.user_features is None and module.prepared.context_specs == []
    assert module.test_set[[0]].context is None
