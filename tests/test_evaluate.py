"""``xsell.evaluate`` on a checkpoint from a tiny ``xsell.train`` run and on a baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tests.hostile import hostile_checkpoint
from xsell.errors import CheckpointError, ConfigError
from xsell.evaluation.report import EvaluationReport
from xsell.evaluation.run import evaluate_run as run
from xsell.training.builders import CONFIG_DIR
from xsell.training.fitting import train

DATA = ["data.source.n_events=3000", "data.max_len=20"]  # the training run's: not eval's default data
BASELINE_DATA = ["data=synthetic", *DATA]  # a baseline names its data; a checkpoint is evaluated on its run's


def config(name: str, output_dir: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(name, overrides=[f"paths.output_dir={output_dir}", *overrides], return_hydra_config=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("train")
    metrics = train(config("train", out, *DATA, "trainer.max_epochs=2", "model.dim=16", "logger=csv", "export=false",
                           "trainer.accelerator=cpu", "callbacks.progress_bar=null", "module.sampled_negatives=20"))
    return out, metrics


def test_checkpoint_evaluation_reproduces_training_metrics(trained, tmp_path):
    """No data=...: the checkpoint is evaluated on its run's own data (3,000 events, not eval's default)."""
    run_dir, train_metrics = trained
    metrics = run(config("eval", tmp_path, f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}"))
    for part in ("val", "test"):
        for name in ("ndcg@10", "recall@10", "mrr@20"):
            assert metrics[part][name] == pytest.approx(train_metrics[part][name], abs=1e-9)
        assert metrics[part]["ndcg@10_ci_low"] <= metrics[part]["ndcg@10"] <= metrics[part]["ndcg@10_ci_high"]
        assert "lift_ndcg@10" in metrics[part]
        assert not any(key.startswith("sampled") for key in metrics[part])  # full ranking unless asked
    sampled = run(config("eval", tmp_path / "sampled", f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}",
                         "sampled_negatives=20", "parts=[test]", "compare=[]"))
    for name in ("sampled_hit@10", "sampled_ndcg@10", "sampled_mrr@20"):  # same negatives as the training run's
        assert sampled["test"][name] == pytest.approx(train_metrics["test"][name], abs=1e-9)
    assert json.loads((tmp_path / "metrics.json").read_text())["test"]["ndcg@10"] == metrics["test"]["ndcg@10"]
    assert train_metrics["seen_items"] == metrics["seen_items"] == "seen items excluded"  # the default protocol
    assert (tmp_path / "report.md").read_text().startswith("# ")
    assert (tmp_path / "ranks_test.parquet").is_file()


def test_evaluation_compares_with_baselines_in_tables_and_plots(trained, tmp_path):
    run_dir, train_metrics = trained
    metrics = run(config("eval", tmp_path, f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}",
                         "compare=[pop,markov]", "parts=[test]"))
    assert set(metrics["compare"]) == {"MostPopular", "Markov"}
    popularity = train_metrics["baselines"]["popularity"]["test"]
    assert metrics["compare"]["MostPopular"]["test"]["ndcg@10"] == pytest.approx(popularity["ndcg@10"], abs=1e-9)
    report = (tmp_path / "report.md").read_text()
    assert "beside the baselines: test" in report and "| MostPopular |" in report and "| Markov |" in report
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert "metrics_at_k.png" in plots and "segments_history_length.png" in plots


def test_unknown_compare_baseline_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown baseline 'nope'.*itemknn"):
        run(config("eval", tmp_path, *BASELINE_DATA, "baselines=pop", "compare=[nope]"))


def test_baseline_evaluation_matches_the_training_baseline(trained, tmp_path):
    _, train_metrics = trained
    metrics = run(config("eval", tmp_path, *BASELINE_DATA, "baselines=pop", "reference=null"))
    popularity = train_metrics["baselines"]["popularity"]["test"]
    assert metrics["test"]["ndcg@10"] == pytest.approx(popularity["ndcg@10"], abs=1e-9)


def test_checkpoint_for_another_catalog_is_a_clear_error(trained, tmp_path):
    run_dir, _ = trained
    for data in (["data=synthetic"], ["+data.source.n_events=20000"]):  # another data set; one key of the run's
        other = config("eval", tmp_path, *data, f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}")
        with pytest.raises(CheckpointError, match="does not match"):
            run(other)
    assert not (tmp_path / "metrics.json").exists()


def test_one_key_of_the_runs_data_can_change(trained, tmp_path):
    run_dir, train_metrics = trained
    metrics = run(config("eval", tmp_path, f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}", "parts=[test]",
                         "compare=[]", "+data.eval_batch_size=7"))
    assert metrics["test"]["ndcg@10"] == pytest.approx(train_metrics["test"]["ndcg@10"], abs=1e-9)


def test_a_baseline_without_data_is_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match="baselines=... needs data=...") as error:
        run(config("eval", tmp_path, "baselines=pop"))
    assert "\n" not in str(error.value) and not tmp_path.joinpath("metrics.json").exists()


def test_corrupted_checkpoint_is_a_clear_error(trained, tmp_path):
    run_dir, _ = trained
    broken = run_dir / "checkpoints" / "broken.ckpt"
    broken.write_bytes((run_dir / "checkpoints" / "best.ckpt").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="broken.ckpt"):
        run(config("eval", tmp_path, f"ckpt={broken}"))
    with pytest.raises(CheckpointError, match="not found"):
        run(config("eval", tmp_path, f"ckpt={run_dir / 'missing.ckpt'}"))


@pytest.mark.parametrize("baseline", ["pop", "itemknn", "markov", "assoc_rules", "ease"])
def test_every_baseline_config_evaluates(tmp_path, baseline):
    metrics = run(config("eval", tmp_path, *BASELINE_DATA, f"baselines={baseline}", "reference=null", "parts=[test]"))
    assert 0.0 <= metrics["test"]["ndcg@10"] <= metrics["test"]["recall@10"] <= 1.0
    assert metrics["name"] != "model" and (tmp_path / "report.md").is_file()


def test_rules_and_trigger_points_join_the_report(tmp_path, monkeypatch):
    monkeypatch.setattr(EvaluationReport, "plot", lambda *args: [])  # plots are tested above; they take seconds
    metrics = run(config("eval", tmp_path, *BASELINE_DATA, "baselines=itemknn", "reference=null", "compare=[]", "parts=[test]",
                         "rules=complement", "trigger=two_weeks", "data.split=temporal", "+data.cutoff=0.8"))
    assert [r["rule"] for r in metrics["rules"]] == ["ExcludePurchased", "ComplementMode"]
    plain = metrics["compare"]["ItemKNN without rules"]["test"]
    assert metrics["test"]["complement_rate@10"] == 1.0 > plain["complement_rate@10"]  # no item of the last category
    trigger = metrics["trigger"]
    assert trigger["window_triggers"] >= trigger["window_triggers_with_target"] > 0
    assert 0.0 <= trigger["window_recall@10"] <= trigger["window_hit@10"] <= trigger["window_hit@20"] <= 1.0
    report = (tmp_path / "report.md").read_text()
    assert "at trigger points" in report and "| ItemKNN without rules |" in report


def test_a_checkpoint_that_needs_pickle_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    ckpt = hostile_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt", marker)
    (tmp_path / "run" / "config.yaml").write_text("data: {}\nmodel: {}\n")
    with pytest.raises(CheckpointError, match=f"refused checkpoint {ckpt}"):
        run(config("eval", tmp_path / "eval", f"ckpt={ckpt}"))
    assert not marker.exists()


def test_load_run_gives_the_run_back_as_values(trained):
    import xsell
    from xsell.runs import checkpoint_weights

    run_dir, train_metrics = trained
    loaded = xsell.load_run(run_dir)
    assert loaded.checkpoint == run_dir / "checkpoints" / "best.ckpt" and loaded.metrics == train_metrics
    assert loaded.config.model._target_ == "xsell.models.SASRec" and loaded.bundle is None
    assert len(loaded.vocabulary) == loaded.datamodule.prepared.num_items
    weights = checkpoint_weights(loaded.checkpoint)
    assert all(torch.equal(weights[k], v) for k, v in loaded.model.state_dict().items())
    assert not loaded.model.training
