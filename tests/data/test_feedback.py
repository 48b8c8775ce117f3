"""Explicit feedback tables: validation, reading, and attachment to training events (no leakage)."""

from __future__ import annotations

import polars as pl
import pytest

from xsell.data.datamodule import SequenceDataModule
from xsell.data.feedback import encode_feedback, validate_feedback
from xsell.data.interactions import Interactions
from xsell.data.pipeline import prepare_split
from xsell.data.readers import read_events, read_feedback
from xsell.data.sequences import encode_split
from xsell.errors import EmptyDataError, SchemaError

# u1: a b c | d (validation) | e (test); u2: x y a | b | c. Training items: a b c x y.
EVENTS = pl.DataFrame({
    "user_id": ["u1"] * 5 + ["u2"] * 5,
    "item_id": list("abcde") + list("xyabc"),
    "timestamp": [10, 20, 30, 40, 50, 10, 20, 30, 40, 50],
})
FEEDBACK = pl.DataFrame({
    "user_id": ["u1", "u1", "u1", "u1", "u1", "u2"],
    "anchor_item_id": ["a", "b", "c", "z", "a", "y"],
    "recommended_item_id": ["x", "c", "a", "a", "q", "b"],
    "helpful": [False, True, False, True, False, True],
    "timestamp": [11, 25, 45, 12, 13, 21],
})


def test_validation_names_the_problem():
    assert validate_feedback(FEEDBACK.with_columns(pl.col("helpful").cast(pl.Int8))).schema["helpful"] == pl.Boolean
    with pytest.raises(SchemaError, match="helpful") as missing:
        validate_feedback(FEEDBACK.drop("helpful"), "answers.csv")
    assert missing.value.source == "answers.csv"
    with pytest.raises(SchemaError, match="null") as nulls:
        validate_feedback(FEEDBACK.with_columns(pl.when(pl.col("timestamp") > 20).then(None)
                                                .otherwise(pl.col("recommended_item_id")).alias("recommended_item_id")))
    assert nulls.value.column == "recommended_item_id" and nulls.value.rows == 3
    with pytest.raises(SchemaError, match="other than 0 and 1") as values:
        validate_feedback(FEEDBACK.with_columns(pl.Series("helpful", [0, 1, 2, 1, 5, 0])))
    assert values.value.rows == 2
    with pytest.raises(SchemaError, match="Boolean"):
        validate_feedback(FEEDBACK.with_columns(pl.col("helpful").cast(pl.String)))
    with pytest.raises(EmptyDataError):
        validate_feedback(FEEDBACK.clear())


def test_read_feedback_beside_the_events(tmp_path):
    EVENTS.rename({"user_id": "visitor"}).write_csv(tmp_path / "events.csv")
    FEEDBACK.rename({"user_id": "visitor"}).with_columns(pl.col("helpful").cast(pl.Int8)).write_csv(
        tmp_path / "answers.csv")
    data = read_events(tmp_path / "events.csv", {"visitor": "user_id"}, feedback=tmp_path / "answers.csv")
    assert data.feedback.equals(validate_feedback(FEEDBACK))
    FEEDBACK.drop("anchor_item_id").write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(SchemaError, match="anchor_item_id") as error:
        read_feedback(tmp_path / "bad.parquet")
    assert error.value.source == str(tmp_path / "bad.parquet")


def test_answers_attach_to_their_training_event_only():
    split = prepare_split(Interactions(EVENTS))
    log = encode_split(split)
    encoded = encode_feedback(FEEDBACK, split, log.item_vocab, max_per_event=2)
    # Kept: (u1, a) -> x not helpful; (u1, b) -> c helpful; (u2, y) -> b helpful. Dropped: the answer after
    # u1's first held-out event (t=45 >= 40), the never-seen anchor z, the unknown recommended item q.
    assert encoded.used == 3
    index = log.item_vocab.index
    answered = {(log.user_vocab.decode([log.user[r]])[0], log.item_vocab.decode([log.item[r]])[0]):
                list(zip(encoded.items[r].tolist(), encoded.helpful[r].tolist(), strict=True))
                for r in range(len(log)) if encoded.items[r].any()}
    assert answered == {("u1", "a"): [(index("x"), False), (0, False)],
                        ("u1", "b"): [(index("c"), True), (0, False)],
                        ("u2", "y"): [(index("b"), True), (0, False)]}


def test_training_batches_carry_the_answers_of_each_input_position():
    dm = SequenceDataModule(Interactions(EVENTS), max_len=4, batch_size=8, feedback=FEEDBACK, feedback_per_event=1)
    dm.setup()
    (batch,) = list(dm.train_dataloader())
    vocab = dm.prepared.item_vocab
    found = {(vocab.decode([i])[0], vocab.decode([f])[0], bool(h))
             for row in range(len(batch)) for i, f, h in zip(batch.items[row].tolist(),
                                                                batch.feedback_items[row, :, 0].tolist(),
                                                                batch.feedback_helpful[row, :, 0].tolist(), strict=True)
             if f > 0}
    assert found == {("a", "x", False), ("b", "c", True), ("y", "b", True)}
    assert batch.feedback_items.shape == (*batch.items.shape, 1)
    assert dm.prepared.summary()["feedback_answers_used"] == 3
    with pytest.raises(ValueError, match="causal"):
        SequenceDataModule(Interactions(EVENTS), objective="cloze", feedback=FEEDBACK).setup()
