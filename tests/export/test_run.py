"""From a training run to a bundle: ``xsell.train`` ends with one (``export: true``), and
``python -m xsell.export ckpt=...`` rebuilds the same scorer from the checkpoint."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from tests.hostile import hostile_checkpoint
from tests.test_train import CONFIG_DIR, config
from tests.test_train import SHRINK as TRAIN_SHRINK
from xsell.errors import CheckpointError
from xsell.export.bundle import load_bundle
from xsell.export.run import export_checkpoint
from xsell.export.run import export_run as export_cli
from xsell.training.fitting import train

SHRINK = [o for o in TRAIN_SHRINK if not o.startswith("export=")]  # these runs export unless told not to


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("run")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        metrics = train(config(out, *SHRINK, "model=gru4rec", "data.max_len=12", "callbacks.progress_bar=null"))
    return out, metrics, printed.getvalue()


def export_config(output_dir: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("export", overrides=[f"paths.output_dir={output_dir}", *overrides])


def test_training_ends_with_a_verified_bundle_and_an_example(trained):
    run, metrics, printed = trained
    bundle = load_bundle(run / "bundle")
    manifest = bundle.manifest
    assert manifest["model"]["name"] == "GRU4Rec" and manifest["model"]["max_len"] == 12
    assert manifest["metrics"] == {**{part: metrics[part] for part in ("val", "test")}, "seen_items": "seen items excluded"}
    assert manifest["protocol"] == {"exclude_seen": True, "seen_items": "seen items excluded"}  # the default
    assert manifest["source_checkpoint"] == metrics["best_checkpoint"]
    assert manifest["config"]["model"]["_target_"] == "xsell.models.GRU4Rec"
    assert json.loads((run / "metrics.json").read_text()) == metrics  # the export does not touch metrics.json
    assert "example history" in printed and "bundle verified and loaded" in printed
    assert manifest["data"]["fingerprint"] and manifest["data"]["events"] == 3000


def test_cli_export_of_the_checkpoint_scores_like_the_training_bundle(trained, tmp_path, capsys):
    run, metrics, _ = trained
    out = export_cli(export_config(tmp_path, f"ckpt={metrics['best_checkpoint']}", f"out={tmp_path / 'b'}",
                                   "history=[i001,i002]", "k=5"))
    printed = capsys.readouterr().out
    assert out == tmp_path / "b" and "example history (2 items" in printed and "identical to the eager model: True" in printed
    ours, theirs = load_bundle(out), load_bundle(run / "bundle")
    assert ours.manifest["data"]["fingerprint"] == theirs.manifest["data"]["fingerprint"]
    assert ours.manifest["metrics"] == theirs.manifest["metrics"]
    items = torch.tensor([[0, 0, 5, 9, 3], [0, 0, 0, 0, 0], [7, 1, 8, 2, 4]])
    a, b = ours.scorer(items, 10), theirs.scorer(items, 10)
    assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1], atol=1e-6)


def test_training_without_export_writes_no_bundle(tmp_path):
    train(config(tmp_path, *SHRINK, "export=false", "callbacks.progress_bar=null", "baseline=false"))
    assert not (tmp_path / "bundle").exists() and (tmp_path / "metrics.json").is_file()


def test_exporting_a_missing_checkpoint_is_a_clear_error(trained, tmp_path):
    run, _, _ = trained
    with pytest.raises(CheckpointError, match="not found"):
        export_checkpoint(run / "checkpoints" / "missing.ckpt", tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_export_refuses_a_checkpoint_that_needs_pickle(tmp_path):
    marker = tmp_path / "ran"
    ckpt = hostile_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt", marker)
    (tmp_path / "run" / "config.yaml").write_text("data: {}\nmodel: {}\n")
    with pytest.raises(CheckpointError, match=f"refused checkpoint {ckpt}"):
        export_checkpoint(ckpt, tmp_path / "bundle")
    assert not marker.exists() and not (tmp_path / "bundle").exists()
