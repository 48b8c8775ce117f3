"""Continuing a stopped training run: ``python -m xsell.train resume=<run folder, or a checkpoint in it>``.

The run continues with its own saved ``config.yaml``; the command line may only change how long and where it
runs (:data:`RESUMABLE`: ``trainer.max_epochs=N``, the devices, threads, loggers, the steps after the fit);
anything else (model, data, loss, optimizer, seed) would make a different run and is refused, naming the key.
It re-enters its own folder (refused while a process still trains there), continues from the newer of
``checkpoints/interrupted.ckpt`` and ``checkpoints/last.ckpt`` (or the checkpoint given), read without pickle
before anything is built, and ends there with ``metrics.json`` like a run done in one go.

A changed ``trainer.max_epochs`` stretches the learning-rate schedule over the new total from the step reached.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, ListConfig, OmegaConf

from xsell.errors import CheckpointError, ConfigError
from xsell.runs import RunDir
from xsell.training.checkpoint_file import read_checkpoint
from xsell.training.resumable import InterruptCheckpoint

# Keys (and the keys under them) a resumed run may change: how long and where it runs, what it logs, and the
# steps after the fit. ``resume`` itself names the run.
RESUMABLE = ("trainer.max_epochs", "trainer.min_epochs", "trainer.accelerator", "trainer.devices",
             "trainer.num_nodes", "trainer.enable_progress_bar", "threads", "data.num_workers", "logger",
             "callbacks.progress_bar", "baseline", "export", "resume")


@dataclass(frozen=True)
class Resumption:
    """A run to continue: its folder, the checkpoint it continues from and the config it continues with."""

    run: RunDir
    checkpoint: Path
    config: DictConfig
    step: int  # the checkpoint's global step


def resumption(cfg: DictConfig, overrides: Sequence[str]) -> Resumption:
    """The run ``cfg.resume`` names (a run folder or a checkpoint in its ``checkpoints/``), continued with its
    saved config and those of ``overrides`` (``key=value`` as on the command line, values taken from ``cfg``)
    that :data:`RESUMABLE` allows.

    Raises ``CheckpointError`` when the folder holds no run or no checkpoint (or one that needs pickle),
    ``ConfigError`` for an override a resumed run may not change or a run that already finished.
    """
    target = Path(str(cfg.resume))
    run = RunDir.of(target)
    saved = run.load_config(needed_by=f"resume={target}")
    written_in = Path(str(OmegaConf.select(saved, "paths.output_dir", default=run.path)))
    if written_in.resolve() != run.path.resolve():  # its saved paths (checkpoints, logs) point there
        raise ConfigError(f"resume={target}: the run was written in {written_in} (its {run.config_file.name} says "
                          "so) and has moved since; resume it where it was written, or start a new run from its "
                          f"weights: init_from={run.best_checkpoint}")
    if run.metrics_file.is_file():
        raise ConfigError(f"resume={target}: the run already finished ({run.metrics_file}); resume continues a "
                          "stopped run. Train longer with a new run that starts from its weights: "
                          f"init_from={run.best_checkpoint}")
    checkpoint = target if target.suffix == ".ckpt" else latest_checkpoint(run)
    # refused here, before anything is built, if it holds more than tensors and plain values
    step = int(read_checkpoint(checkpoint).get("global_step", 0))
    config = with_overrides(saved, cfg, overrides)
    config.resume = str(checkpoint)
    return Resumption(run, checkpoint, config, step)


def latest_checkpoint(run: RunDir) -> Path:
    """The newer (by modification time) of the run's ``interrupted.ckpt`` and ``last.ckpt``; ``CheckpointError``
    when it has neither."""
    found = [p for p in (run.interrupted_checkpoint, run.last_checkpoint) if p.is_file()]
    if not found:
        raise CheckpointError(f"no checkpoint to resume in {run.checkpoints} (expected {run.interrupted_checkpoint.name}"
                              f" or {run.last_checkpoint.name}): the run stopped before it saved one; start it again")
    return max(found, key=lambda p: p.stat().st_mtime_ns)


def with_overrides(saved: DictConfig, cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """``saved`` with each override's key set to its value in ``cfg`` (a group choice such as ``logger=many``
    takes the whole composed group) or deleted (``~key``); ``ConfigError`` for a key outside :data:`RESUMABLE`."""
    config = OmegaConf.create(OmegaConf.to_container(saved, resolve=False))
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if not any(key == allowed or key.startswith(f"{allowed}.") for allowed in RESUMABLE):
            raise ConfigError(f"{override.input_line} is not allowed with resume=: a resumed run keeps its own "
                              f"config and may change only {', '.join(RESUMABLE[:-1])}; a different model, data, "
                              "schedule or folder is a new run (init_from= starts one from a checkpoint)")
        if key == "resume":
            continue
        if override.is_delete():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(config, parent) if parent else config
            if isinstance(node, DictConfig) and leaf in node:
                del node[leaf]
            continue
        composed = OmegaConf.select(cfg, key, throw_on_resolution_failure=False)
        value = (OmegaConf.to_container(composed, resolve=False) if isinstance(composed, (DictConfig, ListConfig))
                 else override.value())
        OmegaConf.update(config, key, value, merge=False, force_add=True)
    return config


def keep_csv_logs(config: DictConfig, step: int) -> list[Path]:
    """Rename the ``metrics.csv`` of the run's CSV loggers to ``metrics_until_step_<step>.csv``: Lightning's
    ``CSVLogger`` starts its file afresh in a folder that has files, which would drop the first part's rows.
    Returns the kept files."""
    kept = []
    for logger in (config.get("logger") or {}).values():
        if logger is None or not str(logger.get("_target_", "")).endswith("CSVLogger"):
            continue
        log = Path(str(logger.save_dir)) / str(logger.get("name", "lightning_logs")) / str(logger.get("version", ""))
        if (log / "metrics.csv").is_file():
            kept.append((log / "metrics.csv").rename(log / f"metrics_until_step_{step}.csv"))
    return kept


def command_line_overrides(cfg: DictConfig) -> list[str]:
    """The ``key=value`` overrides ``cfg`` was composed with: Hydra's record of the command line (or of
    ``compose(..., return_hydra_config=True)``). ``ConfigError`` when there is none: a resumed run must not
    silently drop what it was asked to change."""
    hydra = cfg.get("hydra")
    if hydra is not None:
        return list(hydra.overrides.task)
    if HydraConfig.initialized():
        return list(HydraConfig.get().overrides.task)
    raise ConfigError("resume= needs the overrides the config was composed with: run python -m xsell.train "
                      "resume=RUN [overrides], or compose the config with return_hydra_config=True")


def interrupted(trainer: pl.Trainer, run: RunDir) -> SystemExit:
    """The exit of a fit that a signal stopped: one line on stderr saying where its state is and how to continue
    it; status 128 + the signal (130 for Ctrl-C, 143 for SIGTERM), 1 when no signal is known."""
    stopper = next((c for c in trainer.callbacks if isinstance(c, InterruptCheckpoint)), None)
    received = stopper.received if stopper is not None else None
    if trainer.is_global_zero:
        try:
            where = (f"its state is in {latest_checkpoint(run)}; continue it with: python -m xsell.train "
                     f"resume={run.path}")
        except CheckpointError:
            where = "it saved no checkpoint; start it again"
        signal_name = received.name if received is not None else "an interrupt"
        print(f"training stopped by {signal_name} at epoch {trainer.current_epoch}, step {trainer.global_step}: "
              f"{where}", file=sys.stderr)
    return SystemExit(128 + int(received) if received is not None else 1)


def _run_dir(resume: str | None, default: str) -> str:
    """``hydra.run.dir``: a resumed run's own folder, else ``default``."""
    return default if resume is None else str(RunDir.of(resume).path)


def _hydra_subdir(resume: str | None, stamp: str) -> str:
    """``hydra.output_subdir``: ``.hydra``, and ``.hydra/resumed_<stamp>`` for a resumed run (the first run's
    record of its command line is kept)."""
    return ".hydra" if resume is None else f".hydra/resumed_{stamp}"


OmegaConf.register_new_resolver("xsell.run_dir", _run_dir, replace=True)
OmegaConf.register_new_resolver("xsell.hydra_subdir", _hydra_subdir, replace=True)
