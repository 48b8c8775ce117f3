"""``xsell.retrain`` end to end on tiny synthetic logs: warm-started candidate, paired comparison, bundle swap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tests.hostile import hostile_checkpoint
from xsell.errors import CheckpointError
from xsell.export.bundle import load_bundle
from xsell.export.manifest import manifest_digest
from xsell.stats import PairedComparison
from xsell.training.builders import CONFIG_DIR
from xsell.training.fitting import train
from xsell.training.retraining import decide, retrain, serving_checkpoint
from xsell.training.warm_start import run_vocabulary

TINY = ["trainer.max_epochs=1", "model.dim=8", "model.layers=1", "++trainer.limit_train_batches=2", "logger=csv",
        "trainer.accelerator=cpu", "data.max_len=10"]


def compose_config(name: str, output_dir: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(name, overrides=[f"paths.output_dir={output_dir}", *overrides])


def test_decide_needs_margin_and_significance():
    def comparison(difference: float, p_value: float) -> PairedComparison:
        return PairedComparison("ndcg@10", 100, 0.2 + difference, 0.2, difference, difference - 0.01,
                                difference + 0.01, p_value)

    assert decide(comparison(0.02, 0.01), margin=0.0, alpha=0.05)
    assert not decide(comparison(0.02, 0.2), margin=0.0, alpha=0.05)  # not significant
    assert not decide(comparison(0.02, 0.01), margin=0.05, alpha=0.05)  # below the margin
    assert not decide(comparison(-0.02, 0.01), margin=0.0, alpha=0.05)  # significantly worse


def test_retrain_end_to_end(tmp_path):
    serving_run = tmp_path / "serving"
    train(compose_config("train", serving_run, *TINY, "data.source.n_events=1500", "baseline=false", "export=false"))
    ckpt = serving_run / "checkpoints" / "last.ckpt"
    old_vocab = run_vocabulary(ckpt)
    bundle = tmp_path / "bundle"
    # margin -1 and alpha > 1: the rule always replaces, so the swap path runs; decide() is tested above.
    report = retrain(compose_config("retrain", tmp_path / "retrain", *TINY, f"serving={ckpt}", f"bundle={bundle}",
                                    "data.source.n_events=2500", "data.source.seed=1", "decision.margin=-1.0",
                                    "decision.alpha=1.01", "decision.n_permutations=200"))
    saved = json.loads((tmp_path / "retrain" / "decision.json").read_text())
    assert saved == report and report["replaced"]
    assert "# Retraining decision: replaced" in (tmp_path / "retrain" / "decision.md").read_text()
    comparison = report["comparison"]
    assert comparison["count"] == report["comparison_set"]["targets"] > 0
    assert comparison["difference"] == pytest.approx(comparison["mean_a"] - comparison["mean_b"])
    assert report["candidate"]["new_items"] > 0  # the fresh log has items the serving model never saw
    grown = run_vocabulary(report["candidate"]["checkpoint"])
    assert grown.ids[:old_vocab.num_known] == old_vocab.ids  # old items kept their indices
    served = load_bundle(bundle)  # written, verified
    assert served.manifest["model"]["num_items"] == len(grown)
    assert served.manifest["source_checkpoint"] == report["candidate"]["checkpoint"]

    # A bundle's manifest is followed only inside the run folder that holds the bundle: this one lies outside
    # the candidate's run, so its checkpoint must be given explicitly (serving=CKPT bundle=...) ...
    with pytest.raises(CheckpointError, match="outside the run folder that holds the bundle"):
        serving_checkpoint(bundle)
    # ... while the same bundle inside the candidate's run leads the next round to the checkpoint.
    candidate_run = tmp_path / "retrain" / "candidate"
    inside = shutil.copytree(bundle, candidate_run / "bundle")
    assert serving_checkpoint(inside) == (Path(report["candidate"]["checkpoint"]), inside)
    # A hostile manifest, re-hashed so that its checksums pass, pointing outside the run: refused, never loaded.
    marker = tmp_path / "ran"
    hostile = hostile_checkpoint(tmp_path / "evil.ckpt", marker)
    for source in (str(hostile), f"{candidate_run}/../../evil.ckpt"):
        manifest = json.loads((inside / "manifest.json").read_text())
        manifest["source_checkpoint"] = source
        (inside / "manifest.json").write_text(json.dumps(manifest))
        (inside / "manifest.sha256").write_text(manifest_digest(manifest))
        with pytest.raises(CheckpointError, match="outside the run folder"):
            serving_checkpoint(inside)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="not found"):
        serving_checkpoint(tmp_path / "missing.ckpt")
