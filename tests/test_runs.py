"""``RunDir``: the run folder's layout in one place, and clear errors naming the missing file."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from xsell.data.vocabulary import Vocabulary
from xsell.errors import CheckpointError
from xsell.runs import RunDir, checkpoint_weights


def test_layout_and_checkpoint_owner(tmp_path):
    run = RunDir(tmp_path / "run")
    assert run.config_file == tmp_path / "run" / "config.yaml"
    assert run.vocabulary_file.name == "item_vocabulary.json" and run.metrics_file.name == "metrics.json"
    assert run.best_checkpoint == tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert run.last_checkpoint.name == "last.ckpt" and run.bundle.name == "bundle" and run.index.name == "index"
    assert RunDir.of(run.best_checkpoint) == run == RunDir.of(str(tmp_path / "run"))


def test_round_trips(tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.save_config(OmegaConf.create({"seed": 3, "x": "${seed}"}))
    assert OmegaConf.to_container(run.load_config()) == {"seed": 3, "x": 3}  # saved resolved
    assert run.load_metrics() is None
    run.save_metrics({"test": {"ndcg@10": 0.25}})
    assert run.load_metrics() == {"test": {"ndcg@10": 0.25}}
    vocab = Vocabulary(["b", "a"])
    run.save_vocabulary(vocab)
    assert run.load_vocabulary().ids == vocab.ids


def test_missing_parts_name_the_file(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(CheckpointError, match="config.yaml"):
        run.load_config(needed_by=run.best_checkpoint)
    with pytest.raises(CheckpointError, match="item_vocabulary.json"):
        run.load_vocabulary()
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        checkpoint_weights(run.best_checkpoint)


def test_checkpoint_weights_strip_the_module_prefix(tmp_path):
    path = tmp_path / "a.ckpt"
    torch.save({"state_dict": {"model.w": torch.ones(2), "loss.t": torch.zeros(1)}}, path)
    assert list(checkpoint_weights(path)) == ["w"]
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=f"refused checkpoint {path}"):
        checkpoint_weights(path)
