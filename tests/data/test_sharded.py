import numpy as np
import pytest
import torch

from xsell.data.datamodule import SequenceDataModule
from xsell.data.interactions import Interactions
from xsell.data.sharded import ShardedDataModule
from xsell.data.synthetic import synthetic_shop
from xsell.errors import ConfigError

FIELDS = ("items", "events", "time_gaps", "labels", "users", "target", "target_event", "exclude", "row")


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    events = synthetic_shop(n_events=2_000, seed=5).events.select("user_id", "item_id", "timestamp", "event")
    folder = tmp_path_factory.mktemp("log")
    for k, part in enumerate(events.iter_slices(800)):
        part.write_parquet(folder / f"part-{k}.parquet")
    return folder, events


def assert_same_batches(got, expected, indices):
    for index in indices:
        a, b = got[index], expected[index]
        for name in FIELDS:
            left, right = getattr(a, name), getattr(b, name)
            assert (left is None) == (right is None), name
            if left is not None:
                assert left.dtype == right.dtype == torch.int64, name
                torch.testing.assert_close(left, right, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("objective", ["causal", "cloze"])
def test_batches_equal_the_in_memory_data_module(log, tmp_path, objective):
    folder, events = log
    options = dict(max_len=6, batch_size=16, objective=objective, seed=3)
    sharded = ShardedDataModule(str(folder), cache_dir=str(tmp_path / "prepared"), chunk_events=500, **options)
    sharded.setup()
    memory = SequenceDataModule(Interactions(events, name="log"), **options)
    memory.setup()
    assert sharded.prepared.num_items == memory.prepared.num_items
    torch.testing.assert_close(sharded.prepared.item_counts(), memory.prepared.item_counts())
    assert isinstance(sharded.train_set.items.array, np.memmap)
    rng = np.random.default_rng(0)
    for mine, theirs in ((sharded.train_set, memory.train_set), (sharded.val_set, memory.val_set),
                         (sharded.test_set, memory.test_set)):
        assert len(mine) == len(theirs) and torch.equal(mine.lengths, theirs.lengths)
        assert_same_batches(mine, theirs, [rng.choice(len(mine), 16, replace=False).tolist() for _ in range(4)])
    batches = list(sharded.train_dataloader())
    assert sum(len(b) for b in batches) == len(memory.train_set)
    assert sharded.prepared.summary()["training_windows"] == memory.train_set.windows  # each in cloze_copies copies


def test_a_second_module_opens_the_prepared_folder(log, tmp_path):
    folder, _ = log
    first = ShardedDataModule(str(folder), cache_dir=str(tmp_path / "prepared"), max_len=4)
    first.setup()
    written = (tmp_path / "prepared" / "manifest.json").stat().st_mtime_ns
    second = ShardedDataModule(str(folder), cache_dir=str(tmp_path / "prepared"), max_len=4)
    second.setup()
    assert (tmp_path / "prepared" / "manifest.json").stat().st_mtime_ns == written
    assert second.prepared.num_items == first.prepared.num_items


def test_options_that_need_the_whole_log_are_refused(log):
    folder, _ = log
    with pytest.raises(ConfigError, match="item_features"):
        ShardedDataModule(str(folder), item_features=["category"])
    with pytest.raises(ConfigError, match="min_user_events"):
        ShardedDataModule(str(folder), min_user_events=5)
    with pytest.raises(ConfigError, match="inside"):
        ShardedDataModule(str(folder), cache_dir=str(folder / "prepared"))
    with pytest.raises(ConfigError, match="quantile"):
        ShardedDataModule(str(folder), split="temporal", cutoff=0.8)
    ShardedDataModule(str(folder), item_features=[], context_features=[], catalog_items=False, min_user_events=0,
                      feedback=None, token_hash_buckets=None)
