"""``prepare`` is a pure function to a frozen value, and the data module only wraps that value in loaders."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections import Counter

import numpy as np
import polars as pl
import pytest
import torch
from omegaconf import OmegaConf

from xsell.data.datamodule import SequenceDataModule
from xsell.data.datasets import evaluation_batches
from xsell.data.interactions import Interactions
from xsell.data.prepared import PreparedData, prepare
from xsell.data.schema import PAD_INDEX
from xsell.data.splits import TEST, TRAIN, VALIDATION
from xsell.errors import EmptyDataError
from xsell.training.builders import input_spec

# Three users with event types, devices, item categories and a user segment; "q" is only in the item table.
EVENTS = pl.DataFrame({
    "user_id": list("aaaaaaabbbbcccc"),
    "item_id": list("uvwxyzuwxywzuvz"),
    "timestamp": [1, 2, 3, 4, 5, 6, 7, 1, 5, 9, 12, 2, 3, 4, 8],
    "event": ["view", "cart", "purchase", "view", "view", "view", "cart", "view", "cart", "view", "purchase",
              "view", "view", "cart", "purchase"],
    "device": ["mobile", "desktop"] * 7 + ["mobile"],
})
ITEMS = pl.DataFrame({"item_id": list("uvwxyzq"), "category": list("abababc")})
USERS = pl.DataFrame({"user_id": list("abc"), "segment": ["vip", "new", "vip"]})
OPTIONS = dict(max_len=3, item_features=["category"], context_features=["device"], user_features=["segment"])


def source() -> Interactions:
    return Interactions(EVENTS.clone(), items=ITEMS.clone(), users=USERS.clone(), name="tiny")


def same(a, b) -> bool:
    """Deep equality of prepared values: dataclasses field by field, arrays, tensors and frames by content."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, pl.DataFrame):
        return isinstance(b, pl.DataFrame) and a.equals(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@pytest.fixture(scope="module")
def prepared() -> PreparedData:
    return prepare(source(), **OPTIONS)


def test_same_inputs_give_equal_values_and_the_input_is_untouched(prepared):
    data = source()
    again = prepare(data, **OPTIONS)
    assert same(prepared, again)
    assert data.events.equals(EVENTS) and data.items.equals(ITEMS) and data.users.equals(USERS)
    assert not same(prepared, prepare(source(), **{**OPTIONS, "max_len": 2}))  # the comparison can fail
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.max_len = 5


def test_preparing_and_evaluating_never_import_lightning():
    events = EVENTS.select("user_id", "item_id", "timestamp").to_dict(as_series=False)
    code = ("import sys, polars as pl; from xsell.data.interactions import Interactions; "
            "from xsell.data.prepared import prepare; from xsell.evaluation.report import evaluate; "
            "from xsell.baselines import MostPopular; "
            f"data = prepare(Interactions(pl.DataFrame({events})), max_len=3); "
            "evaluate(MostPopular().fit(data.log).score, data, ks=(2,), n_resamples=5); "
            "print(sorted(m for m in sys.modules if 'lightning' in m or m == 'xsell.data.datamodule'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_fields_agree_with_each_other_and_with_the_input_spec(prepared):
    log, max_len = prepared.log, prepared.max_len
    assert prepared.num_items == len(log.item_vocab) == prepared.mask_index == len(prepared.item_counts())
    assert prepared.item_features.ids.shape[0] == prepared.num_items
    assert prepared.user_features.ids.shape[0] == len(log.user_vocab)
    assert prepared.windows.items.shape[1] == max_len + 1  # causal: inputs and labels of max_len positions
    assert prepared.test.items.shape[1] == prepared.validation.items.shape[1] == max_len
    assert (log.part[prepared.test.row] == TEST).all() and (log.part[prepared.validation.row] == VALIDATION).all()
    assert prepared.targets("test") is prepared.test and prepared.targets("val") is prepared.validation
    assert prepared.item_counts().sum() == (log.part == TRAIN).sum()
    spec = input_spec(OmegaConf.create({"event_types": True, "time_gaps": False}), prepared)
    assert (spec.num_items, spec.max_len, spec.num_event_types) == (prepared.num_items, max_len, 3 + 2)  # pad, unknown
    assert prepared.num_event_types == len(prepared.event_types.names) + 2
    assert torch.equal(spec.feature_ids, torch.from_numpy(prepared.item_features.ids))
    assert [s.name for s in spec.context_specs] == ["device"] and [s.name for s in spec.user_specs] == ["segment"]
    summary = prepared.summary()
    assert (summary["training_windows"], summary["validation_targets"], summary["test_targets"]) == (
        len(prepared.windows), len(prepared.validation), len(prepared.test))
    assert summary["item_vocabulary"] == prepared.num_items and summary["request_values"] == prepared.request_values()
    with pytest.raises(ValueError, match="part must be one of"):
        prepared.targets("train")


def test_objective_and_empty_data_are_checked():
    cloze = prepare(source(), max_len=3, objective="cloze")
    assert cloze.windows.items.shape[1] == 3 and cloze.summary()["objective"] == "cloze"
    with pytest.raises(ValueError, match="objective"):
        prepare(source(), objective="next")
    with pytest.raises(EmptyDataError, match="source=tiny"):
        prepare(source(), min_user_events=50, min_item_events=1)


def test_the_data_modules_evaluation_batches_are_prepareds_targets(prepared):
    dm = SequenceDataModule(source(), eval_batch_size=2, **OPTIONS)
    dm.setup()
    assert same(dm.prepared, prepared)
    for part, loader in (("test", dm.test_dataloader()), ("validation", dm.val_dataloader())):
        packed = prepared.targets(part)
        position = {int(row): i for i, row in enumerate(packed.row)}
        batches = list(loader)
        rows = [int(r) for batch in batches for r in batch.row]
        assert sorted(rows) == sorted(packed.row.tolist())  # every target once
        for batch in batches:
            at = [position[int(r)] for r in batch.row]
            width = batch.items.shape[1]
            assert batch.items.tolist() == packed.items[at][:, -width:].tolist()
            assert (packed.items[at][:, :-width] == PAD_INDEX).all()  # only padding was cut
            assert batch.target.tolist() == packed.target[at].tolist()
            assert batch.users.tolist() == packed.users[at].tolist()
        plain = list(evaluation_batches(prepared, part, batch_size=2))  # the same batches without Lightning
        assert len(plain) == len(batches) and all(same(a, b) for a, b in zip(plain, batches, strict=True))


def test_the_data_modules_training_batches_are_prepareds_windows(prepared):
    dm = SequenceDataModule(source(), batch_size=2, **OPTIONS)
    dm.setup()
    expected = Counter(tuple(int(i) for i in row if i != PAD_INDEX) for row in prepared.windows.items)
    found = Counter()
    for batch in dm.train_dataloader():
        for inputs, labels in zip(batch.items.tolist(), batch.labels.tolist(), strict=True):
            found[tuple(i for i in inputs if i != PAD_INDEX) + (labels[-1],)] += 1
    assert found == expected
