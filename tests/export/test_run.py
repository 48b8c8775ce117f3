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
from hydra.utils import instantiate

from tests.hostile import hostile_checkpoint
from tests.test_train import CONFIG_DIR, config
from tests.test_train import SHRINK as TRAIN_SHRINK
from xsell.errors import CheckpointError, OutputError
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


def instantiate_rules(name: str) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return instantiate(compose("export", overrides=["ckpt=x", f"rules={name}"]).rules)


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
    first, second = load_bundle(run / "bundle").vocabulary.ids[:2]  # ids of the run's shop
    out = export_cli(export_config(tmp_path, f"ckpt={metrics['best_checkpoint']}", f"out={tmp_path / 'b'}",
                                   f"history=[{first},{second}]", "k=5"))
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


def test_export_after_training_keeps_the_identical_bundle(trained, capsys):
    """`python -m xsell.export ckpt=<run>/checkpoints/best.ckpt` right after training: same weights, data,
    protocol and rules as training's own export, so <run>/bundle is kept untouched and the command succeeds."""
    run, metrics, _ = trained
    before = {p.name: p.stat().st_mtime_ns for p in (run / "bundle").iterdir()}
    item = load_bundle(run / "bundle").vocabulary.ids[0]
    out = export_cli(export_config(run / "export-log", f"ckpt={metrics['best_checkpoint']}", f"history=[{item}]"))
    printed = capsys.readouterr().out
    assert out == run / "bundle" and f"bundle already up to date: {run / 'bundle'}\n" in printed
    assert "example history (1 items" in printed
    assert {p.name: p.stat().st_mtime_ns for p in (run / "bundle").iterdir()} == before
    assert not (run / "bundle-2").exists()


def test_export_with_other_options_goes_to_the_next_free_bundle_folder(trained, capsys):
    run, metrics, _ = trained
    (run / "bundle-2").mkdir(exist_ok=True)  # not xsell's: left alone
    (run / "bundle-2" / "notes.txt").write_text("mine")
    before = load_bundle(run / "bundle").manifest
    out = export_cli(export_config(run / "export-log", f"ckpt={metrics['best_checkpoint']}", "rules=serving"))
    printed = capsys.readouterr().out
    assert out == run / "bundle-3" and "(different rules)" in printed and "overwrite=true replaces" in printed
    assert load_bundle(out).manifest["rules"]["compiled"] and not before["rules"]["compiled"]
    assert load_bundle(run / "bundle").manifest == before and (run / "bundle-2" / "notes.txt").read_text() == "mine"
    again = export_cli(export_config(run / "export-log", f"ckpt={metrics['best_checkpoint']}", "rules=serving"))
    assert again == out and "bundle already up to date" in capsys.readouterr().out
    assert not (run / "bundle-4").exists()


def test_export_to_a_folder_holding_another_export_needs_overwrite(trained, tmp_path):
    run, metrics, _ = trained
    export_checkpoint(metrics["best_checkpoint"], tmp_path / "b")
    with pytest.raises(OutputError, match="overwrite"):
        export_checkpoint(metrics["best_checkpoint"], tmp_path / "b", rules=instantiate_rules("serving"))
    replaced = export_checkpoint(metrics["best_checkpoint"], tmp_path / "b", rules=instantiate_rules("serving"),
                                 overwrite=True)
    assert replaced.written and load_bundle(tmp_path / "b").manifest["rules"]["compiled"]


def test_overwrite_rewrites_the_runs_own_bundle(trained):
    run, metrics, _ = trained
    before = load_bundle(run / "bundle").manifest
    exported = export_checkpoint(metrics["best_checkpoint"], overwrite=True)
    after = load_bundle(run / "bundle").manifest
    assert exported == (run / "bundle", True) and after["model"]["weights_sha256"] == before["model"]["weights_sha256"]
    assert after["source_checkpoint"] == metrics["best_checkpoint"]
