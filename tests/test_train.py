"""``xsell.train`` end to end on configs built by ``hydra.compose``, shrunk to run in seconds."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from xsell.data.datamodule import SequenceDataModule
from xsell.errors import ConfigError, OutputError
from xsell.models.base import SequenceModel
from xsell.nn.losses import NextItemLoss
from xsell.training.builders import CONFIG_DIR as CONFIG_PATH
from xsell.training.builders import build_datamodule
from xsell.training.checkpoint_file import read_checkpoint
from xsell.training.fitting import train

CONFIG_DIR = Path(CONFIG_PATH)
SHRINK = ["data.source.n_events=3000", "trainer.max_epochs=1", "model.dim=16", "++trainer.limit_train_batches=2",
          "logger=csv", "trainer.accelerator=cpu", "export=false"]  # export has its own tests (tests/export)
REPORTED = ("ndcg@10", "recall@10", "mrr@10", "ndcg@20", "recall@20", "mrr@20")


def config(output_dir: Path, *overrides: str) -> DictConfig:
    """The train config with ``overrides``; compose has no Hydra runtime, so the output folder is set here."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={output_dir}", *overrides], return_hydra_config=False)


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


@pytest.fixture(scope="module")
def sasrec_run(tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("sasrec")
    return run, train(config(run, *SHRINK))


def test_run_directory_layout(sasrec_run):
    run, metrics = sasrec_run
    assert (run / "config.yaml").is_file()
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    saved = OmegaConf.load(run / "config.yaml")
    assert saved.model._target_ == "xsell.models.SASRec" and saved.paths.output_dir == str(run)
    assert json.loads((run / "metrics.json").read_text()) == metrics


def test_checkpoints_hold_only_tensors_and_plain_values(sasrec_run):
    """Both checkpoints, with the trainer's whole state, load with ``weights_only=True`` (no pickle)."""
    run, _ = sasrec_run
    for name in ("best.ckpt", "last.ckpt"):
        content = read_checkpoint(run / "checkpoints" / name)
        assert {"state_dict", "optimizer_states", "lr_schedulers", "loops", "callbacks"} <= set(content), name


def test_a_second_run_into_the_same_folder_is_refused(sasrec_run):
    run, metrics = sasrec_run
    with pytest.raises(OutputError, match=f"run folder {run} already belongs to another run"):
        train(config(run, *SHRINK))
    assert json.loads((run / "metrics.json").read_text()) == metrics  # the first run's files are untouched


def test_bad_config_values_stop_before_anything_is_read_or_written(tmp_path):
    with pytest.raises(ConfigError, match="model.dim=-1 is not allowed"):
        train(config(tmp_path / "run", *SHRINK, "model.dim=-1", "data.source.n_events=-5"))
    assert not (tmp_path / "run").exists()


def test_metrics_json_layout(sasrec_run):
    run, _ = sasrec_run
    metrics = json.loads((run / "metrics.json").read_text())
    for stage in ("val", "test"):
        assert set(REPORTED) <= set(metrics[stage])
        assert all(0.0 <= metrics[stage][name] <= 1.0 for name in REPORTED)
        assert metrics[stage]["recall@10"] <= metrics[stage]["recall@20"]
    assert metrics["epochs"] == 1
    assert metrics["train_seconds"] > 0 and metrics["train_sequences_per_second"] > 0
    assert metrics["peak_memory_mb"] > 0
    assert metrics["best_checkpoint"] == str(run / "checkpoints" / "best.ckpt")
    assert metrics["data"]["objective"] == "causal" and metrics["data"]["events"] == 3000
    assert set(REPORTED) <= set(metrics["baselines"]["popularity"]["test"])


def test_csv_logger_records_validation_and_test(sasrec_run):
    run, metrics = sasrec_run
    rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    assert {"val/ndcg@10", "val/recall@20", "test/ndcg@10", "test/mrr@20"} <= set(rows[0])
    logged_test = [float(r["test/ndcg@10"]) for r in rows if r["test/ndcg@10"]]
    assert logged_test == pytest.approx([metrics["test"]["ndcg@10"]], abs=1e-6)


@pytest.mark.parametrize("model", ["bert4rec", "gru4rec"])
def test_other_models_train(tmp_path, model):
    metrics = train(config(tmp_path, *SHRINK, f"model={model}"))
    assert metrics["model"].endswith({"bert4rec": "BERT4Rec", "gru4rec": "GRU4Rec"}[model])
    assert metrics["data"]["objective"] == ("cloze" if model == "bert4rec" else "causal")
    assert set(REPORTED) <= set(metrics["test"])
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()


def test_bert4rec_trains_on_cloze_batches(tmp_path):
    cfg = config(tmp_path, *SHRINK, "model=bert4rec")
    datamodule = build_datamodule(cfg)
    batch = next(iter(datamodule.train_dataloader()))
    masked = batch.items == datamodule.prepared.mask_index
    assert masked.any() and torch.equal(masked, batch.labels > 0)


@pytest.mark.parametrize("option", group_options("model"))
def test_model_configs_instantiate(tmp_path, option):
    cfg = config(tmp_path, f"model={option}")
    model = instantiate(cfg.model)(num_items=12, max_len=5)
    assert isinstance(model, SequenceModel)
    items = torch.tensor([[0, 0, 2, 3, 4]])
    assert model.eval().encode_sequence(items, items.clamp(max=1), items.clamp(max=1)).shape == (1, cfg.model.dim)


@pytest.mark.parametrize("option", group_options("baselines"))
def test_baseline_configs_instantiate_and_are_not_trainable(tmp_path, option):
    """Baselines (``configs/baselines/``) fit and score; given to ``train`` as a model they are a clear error."""
    baseline_config = OmegaConf.load(CONFIG_DIR / "baselines" / f"{option}.yaml")
    baseline = instantiate(baseline_config)
    assert callable(baseline.fit) and callable(baseline.score)
    cfg = config(tmp_path, *[o for o in SHRINK if not o.startswith("model.")])
    cfg.model = baseline_config
    with pytest.raises(ValueError, match="is a baseline, not a trainable model"):
        train(cfg)


@pytest.mark.parametrize("option", group_options("loss"))
def test_loss_configs_instantiate(tmp_path, option):
    loss = instantiate(config(tmp_path, f"loss={option}").loss)
    assert isinstance(loss, NextItemLoss)
    torch.manual_seed(0)
    loss.prepare(torch.arange(12.0))
    value = loss(torch.randn(4, 8), torch.tensor([2, 3, 5, 11]), torch.randn(12, 8))
    assert value.ndim == 0 and torch.isfinite(value)


def test_csv_logger_and_default_callbacks_instantiate(tmp_path):
    cfg = config(tmp_path, "logger=csv", "callbacks=default")
    loggers = [instantiate(c) for c in cfg.logger.values()]
    assert [type(lg) for lg in loggers] == [pl.loggers.CSVLogger]
    assert Path(loggers[0].log_dir) == tmp_path / "csv"
    callbacks = {name: instantiate(c) for name, c in cfg.callbacks.items()}
    assert isinstance(callbacks["model_checkpoint"], pl.callbacks.ModelCheckpoint)
    assert callbacks["model_checkpoint"].dirpath == str(tmp_path / "checkpoints")
    assert isinstance(callbacks["early_stopping"], pl.callbacks.EarlyStopping)
    assert callbacks["early_stopping"].monitor == "val/ndcg@10"
    assert config(tmp_path, "callbacks=none").callbacks in (None, {})


def test_callbacks_follow_the_optimized_metric(tmp_path):
    cfg = config(tmp_path, "callbacks=default", "optimized_metric=val/sampled_ndcg@10")
    assert cfg.callbacks.early_stopping.monitor == "val/sampled_ndcg@10"
    assert cfg.callbacks.model_checkpoint.monitor == "val/sampled_ndcg@10"


@pytest.mark.parametrize("overrides, message", [
    (["optimized_metric=test/ndcg@10"], "never tune on test"),
    (["optimized_metric=val/sampled_ndcg@10"], "module.sampled_negatives"),
])
def test_train_rejects_an_optimized_metric_it_cannot_follow(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(config(tmp_path, *overrides))
    assert not (tmp_path / "config.yaml").exists()


@pytest.mark.parametrize("option", ["cpu", "default"])
def test_trainer_configs_instantiate(tmp_path, option):
    cfg = config(tmp_path, f"trainer={option}", "trainer.accelerator=cpu")
    trainer = instantiate(cfg.trainer, logger=False)
    assert isinstance(trainer, pl.Trainer) and trainer.max_epochs == cfg.trainer.max_epochs


def test_synthetic_data_config_instantiates(tmp_path):
    cfg = config(tmp_path, "data=synthetic", "data.source.n_events=3000")
    datamodule = instantiate(cfg.data, objective="causal")
    assert isinstance(datamodule, SequenceDataModule)
    datamodule.setup()
    assert datamodule.prepared.summary()["events"] == 3000 and datamodule.prepared.max_len == cfg.data.max_len


@pytest.mark.parametrize("option", [o for o in group_options("data") if o != "synthetic"])
def test_file_data_configs_instantiate(tmp_path, option):
    datamodule = instantiate(config(tmp_path, f"data={option}", f"data.path={tmp_path}").data)
    assert isinstance(datamodule, SequenceDataModule) and callable(datamodule.source)


def test_survey_feedback_trains_through_hydra(tmp_path):
    metrics = train(config(tmp_path, *SHRINK, "data.source.n_events=1500", "baseline=false", "feedback=survey"))
    assert metrics["data"]["feedback_answers_used"] > 0
    assert (tmp_path / "item_vocabulary.json").is_file()  # what a later warm start (init_from=...) grows
    file_cfg = config(tmp_path, "feedback=file", f"feedback.path={tmp_path / 'answers.parquet'}")
    assert file_cfg.feedback.source.path == str(tmp_path / "answers.parquet")
    assert instantiate(file_cfg.feedback.loss)(instantiate(file_cfg.loss)).uses_feedback


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in ("logger", "trainer", "callbacks", "experiment")
                                                for o in group_options(g)])
def test_every_config_composes(tmp_path, group, option):
    cfg = config(tmp_path, f"{group}={option}")
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.slow
@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_experiment_presets_run(tmp_path, shared_data, experiment):
    """Every preset trains one batch (``fast_dev_run``) on its real data set, with small sizes for speed."""
    preset = config(tmp_path, f"experiment={experiment}")
    overrides = [f"experiment={experiment}", "++trainer.fast_dev_run=true",
                 "trainer.accelerator=cpu", "baseline=false", "model.dim=16", "data.max_len=20",
                 "data.batch_size=32", "data.eval_batch_size=64"]
    if "path" in preset.data:  # real data sets: read them from the shared folder
        overrides.append("data.path=" + str(preset.data.path).replace("../shared/data", str(shared_data)))
    else:
        overrides.append("data.source.n_events=3000")
    metrics = train(config(tmp_path, *overrides))
    assert set(REPORTED) <= set(metrics["test"]) and metrics["epochs"] == 1


def test_context_and_user_features_train_through_hydra(tmp_path):
    cfg = config(tmp_path, *SHRINK, "model=gru4rec", "inputs.context_features=[device,time_of_day,session_length]",
                 "inputs.user_features=[segment,behaviour_segment]", "inputs.token_hash_buckets=64",
                 "inputs.item_features=[category,title_tokens]",
                 "+data.segments={_target_: xsell.data.segmentation.BehaviouralSegments, method: quantile}")
    metrics = train(cfg)
    assert metrics["data"]["context_features"] == ["device", "time_of_day", "session_length"]
    assert metrics["data"]["user_features"] == ["segment", "behaviour_segment"]
    assert set(REPORTED) <= set(metrics["test"])
    assert metrics["data"]["request_values"]["context"]["device"] == ["mobile", "desktop", "tablet"]
    state = torch.load(tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    tables = [name for name in state if name.startswith("model.request.") and name.endswith(".weight")]
    assert {"model.request.context.features.2.weight", "model.request.user.features.1.weight"} <= set(tables)
    assert OmegaConf.load(tmp_path / "config.yaml").data.token_hash_buckets == 64


@pytest.mark.slow
def test_optuna_sweep_maximises_validation_ndcg(tmp_path):
    """``-m hparams_search=optuna`` runs its trials through the Optuna sweeper; the best value it reports is
    the highest validation NDCG@10 of the trials' metrics.json, and the best parameters are that trial's."""
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "xsell.train", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3",
               "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweep.dir={sweep}", "baseline=false",
               "threads=1", "callbacks.progress_bar=null", *SHRINK]
    done = subprocess.run(command, cwd=CONFIG_DIR.parents[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = sorted(sweep.glob("[0-9]*/metrics.json"))
    assert len(trials) == 3
    values = [json.loads(path.read_text())["val"]["ndcg@10"] for path in trials]
    result = OmegaConf.load(sweep / "optimization_results.yaml")
    assert result.best_value == pytest.approx(max(values))
    best_overrides = OmegaConf.load(trials[values.index(max(values))].parent / ".hydra" / "overrides.yaml")
    assert {f"{key}={value}" for key, value in result.best_params.items()} <= set(best_overrides)


def test_parquet_shards_prepared_on_disk_train_through_hydra(tmp_path):
    from xsell.data.synthetic import synthetic_shop

    shards = tmp_path / "shards"
    shards.mkdir()
    events = synthetic_shop(n_events=1500, seed=0).events.select("user_id", "item_id", "timestamp", "event")
    for k, part in enumerate(events.iter_slices(500)):
        part.write_parquet(shards / f"part-{k}.parquet")
    shrink = [o for o in SHRINK if not o.startswith("data.source")]
    cfg = config(tmp_path / "run", *shrink, "baseline=false", "data=shards", f"data.path={shards}",
                 f"data.cache_dir={tmp_path / 'prepared'}")
    metrics = train(cfg)
    assert metrics["data"]["events"] == 1500 and metrics["data"]["prepared"] == str(tmp_path / "prepared")
    assert (tmp_path / "prepared" / "manifest.json").is_file() and "ndcg@10" in metrics["test"]
