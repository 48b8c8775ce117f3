"""Training as a function of its config: instantiate, fit, validate and test the best checkpoint, run the
``after_fit`` steps, write ``metrics.json`` once and return it (``python -m xsell.train`` wraps this).

With ``resume=<run>`` the stopped run continues in its folder from its checkpoint (:mod:`xsell.training.resume`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from xsell.config_checks import check_config
from xsell.errors import CheckpointError
from xsell.evaluation.protocol import seen_items_label
from xsell.runs import RunDir
from xsell.training.after_fit import FitContext
from xsell.training.builders import CONFIG_DIR, build_datamodule, build_model, check_optimized_metric
from xsell.training.callbacks import RunStatistics
from xsell.training.checkpoint import LoadedRun, load_run
from xsell.training.quiet import silence_lightning_noise
from xsell.training.resumable import TrainingState
from xsell.training.resume import Resumption, command_line_overrides, interrupted, keep_csv_logs, resumption
from xsell.training.warm_start import run_vocabulary, warm_start


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, pick the best validation checkpoint, evaluate it on validation and test, run ``cfg.after_fit``,
    write ``<run>/metrics.json`` and return its content. ``cfg.resume`` continues a stopped run instead."""
    resumed = resumption(cfg, command_line_overrides(cfg)) if cfg.get("resume") else None
    if resumed is not None:
        cfg = resumed.config
    check_config(cfg)
    check_optimized_metric(str(cfg.get("optimized_metric") or "val/ndcg@10"), cfg.module.get("sampled_negatives"))
    run = RunDir(cfg.paths.output_dir)
    if rank_zero_only.rank == 0:  # with several processes, rank 0 claims and writes the run's files
        run.reenter() if resumed else run.create()  # refuses a folder another run (or process) writes to
    try:
        return _train(cfg, run, resumed)
    finally:
        run.release()


def _train(cfg: DictConfig, run: RunDir, resumed: Resumption | None) -> dict[str, Any]:
    silence_lightning_noise(resumed=resumed is not None)  # again: a caller's catch_warnings drops import-time filters
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    init_from = cfg.get("init_from")  # warm start: grow the checkpoint's vocabulary, copy its weights
    base_vocab = None
    if init_from:  # a resumed warm start has the grown vocabulary already, and its checkpoint the weights
        base_vocab = run.load_vocabulary() if resumed else run_vocabulary(init_from)
    datamodule = build_datamodule(cfg, base_vocab)
    data = datamodule.prepared
    if resumed and run.has_vocabulary() and run.load_vocabulary() != data.item_vocab:
        raise CheckpointError(f"resume={run.path}: its data no longer give the run's item vocabulary "
                              f"({run.vocabulary_file}); the data changed since the run started")
    model = build_model(cfg, data)
    if init_from and not resumed:
        warm_start(model, init_from, len(base_vocab), data.num_items)
    loss = instantiate(cfg.loss)
    if cfg.get("feedback"):
        loss = instantiate(cfg.feedback.loss)(loss)
    module = instantiate(cfg.module)(model=model, loss=loss, item_counts=data.item_counts(), seed=cfg.seed)
    statistics = RunStatistics()
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    callbacks += [statistics, TrainingState()]
    if resumed and rank_zero_only.rank == 0:
        keep_csv_logs(cfg, resumed.step)
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    if trainer.is_global_zero:
        run.save_config(cfg)
        run.save_vocabulary(data.item_vocab)

    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resumed.checkpoint if resumed else None, weights_only=True)
    except SystemExit as exc:  # how Lightning ends a fit stopped by Ctrl-C or SIGTERM (after its checkpoint)
        if not trainer.interrupted:
            raise
        raise interrupted(trainer, run) from exc
    fitted = statistics.summary()  # before validate: restoring the best checkpoint restores its callbacks' state
    best = getattr(trainer.checkpoint_callback, "best_model_path", "")  # the first checkpoint callback's
    ckpt_path = best or None
    trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False, weights_only=True)
    trainer.test(module, datamodule=datamodule, verbose=False)  # the best weights: validate restored them

    metrics: dict[str, Any] = {
        "val": module.results.get("val", {}),
        "test": module.results.get("test", {}),
        **fitted,
        "wall_seconds": time.perf_counter() - start,
        "best_checkpoint": best,
        "data": {k: v for k, v in data.summary().items() if k != "columns"},
        "model": cfg.model._target_,
        "loss": cfg.loss._target_,
        "seen_items": seen_items_label(cfg.module.exclude_seen),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }
    if not trainer.is_global_zero:
        return metrics
    context = FitContext(cfg, model, data, run, metrics, best_checkpoint=best or None,
                         eval_batch_size=datamodule.eval_batch_size)
    for step in (cfg.get("after_fit") or {}).values():
        if step is not None:
            instantiate(step)(context)
    run.save_metrics(metrics)
    return metrics


def optimized_value(cfg: DictConfig, metrics: dict[str, Any]) -> float | None:
    """The value of ``cfg.optimized_metric`` (``val/ndcg@10``) in ``metrics``: what a sweeper maximises."""
    stage, _, name = str(cfg.get("optimized_metric", "")).partition("/")
    return metrics.get(stage, {}).get(name)


def train_config(overrides: Sequence[str] = (), output_dir: str | Path | None = None) -> DictConfig:
    """The packaged ``train.yaml`` composed with command-line style ``overrides`` (``"model=gru4rec"``,
    ``"trainer.max_epochs=2"``), writing to ``output_dir`` (default: a new
    ``outputs/<task_name>/runs/<date>_<time>`` under the working folder, as ``python -m xsell.train`` does)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "paths.output_dir=."], return_hydra_config=False)
        if output_dir is None:
            output_dir = (Path(cfg.paths.log_dir) / cfg.task_name / "runs"
                          / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f"))
        return compose("train", overrides=[*overrides, f"paths.output_dir={output_dir}"], return_hydra_config=False)


def train_run(overrides: Sequence[str] = (), output_dir: str | Path | None = None) -> LoadedRun:
    """Train as ``python -m xsell.train <overrides>`` does, from Python (a notebook, a script), and return
    the finished run loaded (``xsell.train_run``; see :func:`train_config` for ``output_dir``)::

        run = xsell.train_run(["data.source.n_events=5000", "trainer.max_epochs=2"])
        run.metrics["test"]["ndcg@10"], run.model, run.datamodule, run.bundle
    """
    cfg = train_config(overrides, output_dir)
    train(cfg)
    return load_run(cfg.paths.output_dir)
