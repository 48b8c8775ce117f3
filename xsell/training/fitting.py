"""Training as a function of its config: instantiate, fit, validate and test the best checkpoint, run the
``after_fit`` steps, write ``metrics.json`` once and return it (``python -m xsell.train`` wraps this).

With ``resume=<run>`` the stopped run continues in its folder from its checkpoint (:mod:`xsell.training.resume`).
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from xsell.config_checks import check_config
from xsell.errors import CheckpointError
from xsell.evaluation.protocol import seen_items_label
from xsell.runs import RunDir
from xsell.training.after_fit import FitContext
from xsell.training.builders import build_datamodule, build_model, check_optimized_metric
from xsell.training.callbacks import RunStatistics
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
