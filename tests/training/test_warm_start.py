"""Warm start: the item vocabulary grows, old items keep bit-identical vectors, new ones get fresh rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.hostile import hostile_checkpoint
from xsell.data.prepared import PreparedData, prepare
from xsell.data.synthetic import synthetic_shop
from xsell.errors import CheckpointError
from xsell.models import BERT4Rec, GRU4Rec, SASRec
from xsell.training.warm_start import VOCABULARY_FILE, grow_state, run_vocabulary, warm_start


def data(n_events: int, seed: int, **kwargs) -> PreparedData:
    return prepare(synthetic_shop(n_events, seed=seed), max_len=8, **kwargs)


def fake_run(folder: Path, model: torch.nn.Module, prepared: PreparedData) -> Path:
    """What xsell.train leaves behind: a Lightning checkpoint and the run's item vocabulary."""
    ckpt = folder / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    prepared.log.item_vocab.save(folder / VOCABULARY_FILE)
    return ckpt


@pytest.fixture(scope="module")
def old_data() -> PreparedData:
    return data(1_500, seed=0)


@pytest.mark.parametrize("architecture", [SASRec, BERT4Rec])
def test_old_item_vectors_are_bit_identical_and_new_items_get_fresh_rows(tmp_path, old_data, architecture):
    torch.manual_seed(0)
    old = architecture(num_items=old_data.num_items, dim=8, layers=1, heads=1, max_len=8)
    ckpt = fake_run(tmp_path, old, old_data)
    vocab = run_vocabulary(ckpt)
    new_data = data(3_000, seed=1, base_item_vocab=vocab)
    assert new_data.log.item_vocab.ids[:vocab.num_known] == vocab.ids  # old items keep their indices
    n_old, n_new = len(vocab), new_data.num_items
    assert n_new > n_old  # the bigger shop brings new items
    torch.manual_seed(1)
    new = architecture(num_items=n_new, dim=8, layers=1, heads=1, max_len=8)
    fresh = new.input.items.ids.weight.detach().clone()
    warm_start(new, ckpt, n_old, n_new)
    before, after = old.item_embeddings().detach(), new.item_embeddings().detach()
    assert torch.equal(after[:n_old], before)  # bit-identical, padding and unknown rows included
    assert torch.equal(new.input.items.ids.weight[n_old:n_new], fresh[n_old:n_new])  # fresh initialisation
    assert not torch.isclose(after[n_old:, None], before[None]).all(-1).any()  # no new row copies an old one
    assert torch.equal(new.input.items.ids.weight[n_new:], old.input.items.ids.weight[n_old:])  # mask token (BERT4Rec)
    assert all(torch.equal(p, q) for (name, p), (_, q) in zip(new.state_dict().items(), old.state_dict().items(),
                                                               strict=True) if "items." not in name)


def test_mismatched_architecture_names_the_file_and_tensor(tmp_path, old_data):
    ckpt = fake_run(tmp_path, SASRec(num_items=old_data.num_items, dim=8, layers=1, heads=1, max_len=8), old_data)
    n = old_data.num_items + 3
    with pytest.raises(CheckpointError, match=r"best\.ckpt.*'input\.items\.ids\.weight' has shape \(\d+, 8\)"):
        warm_start(SASRec(num_items=n, dim=16, layers=1, heads=1, max_len=8), ckpt, old_data.num_items, n)
    with pytest.raises(CheckpointError, match=r"best\.ckpt.*tensor '.*(gru|blocks).*'"):
        warm_start(GRU4Rec(num_items=n, dim=8, max_len=8), ckpt, old_data.num_items, n)
    with pytest.raises(CheckpointError, match=r"best\.ckpt.*'input\.context\.positions\.weight'"):
        warm_start(SASRec(num_items=n, dim=8, layers=1, heads=1, max_len=12), ckpt, old_data.num_items, n)
    (tmp_path / VOCABULARY_FILE).unlink()
    with pytest.raises(CheckpointError, match=VOCABULARY_FILE):
        run_vocabulary(ckpt)


def test_feature_tables_keep_old_rows_and_feature_ids_must_agree():
    old = {"items.feature_ids": torch.tensor([[0], [1], [2], [3]]), "items.features.0.weight": torch.ones(4, 2)}
    new = {"items.feature_ids": torch.tensor([[0], [1], [2], [3], [4]]), "items.features.0.weight": torch.zeros(5, 2)}
    grown = grow_state(old, new, old_items=4, new_items=5)
    assert grown["items.feature_ids"].tolist() == [[0], [1], [2], [3], [4]]
    assert grown["items.features.0.weight"].tolist() == [[1, 1]] * 4 + [[0, 0]]  # new feature value: fresh row
    recoded = {**new, "items.feature_ids": torch.tensor([[0], [1], [3], [2], [4]])}
    with pytest.raises(CheckpointError, match="feature_ids.*differently"):
        grow_state(old, recoded, old_items=4, new_items=5, source="run/best.ckpt")


def test_warm_start_refuses_a_checkpoint_that_needs_pickle(tmp_path, old_data):
    marker = tmp_path / "ran"
    ckpt = hostile_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt", marker)
    model = SASRec(num_items=old_data.num_items, dim=8, layers=1, heads=1, max_len=8)
    with pytest.raises(CheckpointError, match=f"refused checkpoint {ckpt}"):
        warm_start(model, ckpt, old_data.num_items, old_data.num_items)
    assert not marker.exists()
