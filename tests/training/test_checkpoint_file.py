"""Checkpoints load with ``weights_only=True``: a file whose pickle would run code is refused, unrun."""

from __future__ import annotations

import pytest
import torch

from tests.hostile import hostile_checkpoint
from xsell.errors import CheckpointError
from xsell.runs import checkpoint_weights
from xsell.training.checkpoint_file import read_checkpoint


@pytest.mark.parametrize("raw", [False, True], ids=["torch-zip", "bare-pickle"])
def test_a_checkpoint_that_needs_pickle_is_refused_without_running(tmp_path, raw):
    marker = tmp_path / "ran"
    ckpt = hostile_checkpoint(tmp_path / "best.ckpt", marker, raw=raw)
    with pytest.raises(CheckpointError, match=rf"refused checkpoint {ckpt}: it is not made of tensors and plain "
                                              "values alone .*xsell never unpickles a checkpoint") as info:
        read_checkpoint(ckpt)
    assert "add_safe_globals" not in str(info.value)  # no hint towards re-enabling pickle
    assert not marker.exists()


def test_plain_checkpoints_load_and_yield_the_model_tensors(tmp_path):
    ckpt = tmp_path / "best.ckpt"
    weight = torch.arange(3.0)
    torch.save({"state_dict": {"model.w": weight, "other.b": torch.ones(1)}, "epoch": 2,
                "callbacks": {"EarlyStopping": {"best_score": torch.tensor(0.5), "wait_count": 1}}}, ckpt)
    assert read_checkpoint(ckpt)["epoch"] == 2
    weights = checkpoint_weights(ckpt)
    assert list(weights) == ["w"] and torch.equal(weights["w"], weight)


def test_missing_corrupted_and_foreign_files_fail_naming_them(tmp_path):
    with pytest.raises(CheckpointError, match=f"checkpoint not found: {tmp_path / 'nope.ckpt'}"):
        read_checkpoint(tmp_path / "nope.ckpt")
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"\x00\x01 not a checkpoint")
    with pytest.raises(CheckpointError, match=f"refused checkpoint {broken}: it is not made of tensors"):
        read_checkpoint(broken)
    foreign = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match=f"{foreign} is not a checkpoint of xsell.train"):
        read_checkpoint(foreign)
