"""A training run's checkpoint back as an eval-mode model, with the data module it is evaluated on; a whole
run back as values (:func:`load_run`, also ``xsell.load_run``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from xsell.data.datamodule import SequenceDataModule
from xsell.data.prepared import PreparedData
from xsell.data.vocabulary import Vocabulary
from xsell.errors import CheckpointError
from xsell.runs import RunDir, checkpoint_weights
from xsell.training.builders import build_model, build_run_datamodule


def run_data_config(run_config: DictConfig, data: DictConfig | None = None) -> DictConfig:
    """The data a run's model is evaluated on: the run's own data config; ``data`` instead when it is a whole
    data config (has a ``_target_``); ``data`` merged onto the run's when it only sets some keys
    (``+data.split=temporal``)."""
    if data is None:
        return run_config.data
    if "_target_" in data:
        return data
    return OmegaConf.merge(run_config.data, data)


def load_checkpoint_model(ckpt: str | Path, datamodule_config: DictConfig | None = None
                          ) -> tuple[torch.nn.Module, SequenceDataModule]:
    """The model of a training checkpoint, with the data module it is evaluated on: the run's own data, or
    ``datamodule_config`` as :func:`run_data_config` reads it (with the run's inputs and item indices: a
    warm-started run grew them).

    Raises ``CheckpointError`` naming the file when it is missing, unreadable, not from ``xsell.train``,
    or built for another catalog than the data's.
    """
    path = Path(ckpt)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    run = RunDir.of_checkpoint(path)
    run_config = run.load_config(needed_by=path)
    weights = checkpoint_weights(path)
    base = run.load_vocabulary(needed_by=path) if run.has_vocabulary() else None
    datamodule = build_run_datamodule(run_config, run_data_config(run_config, datamodule_config), base)
    model = build_model(run_config, datamodule.prepared)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match the model built for this data "
                              f"({datamodule.prepared.num_items} items): {str(exc).splitlines()[0]}") from exc
    return model.eval(), datamodule


@dataclass
class LoadedRun:
    """A finished training run, loaded: its folder, config, best model (eval mode), the data module it was
    trained on (``data``: its prepared value), item vocabulary, metrics (``None`` when the run wrote none) and
    bundle folder (if exported)."""

    run: RunDir
    config: DictConfig
    model: torch.nn.Module
    datamodule: SequenceDataModule
    vocabulary: Vocabulary
    metrics: dict[str, Any] | None
    checkpoint: Path
    bundle: Path | None

    @property
    def data(self) -> PreparedData:
        """The run's prepared data (what evaluation, rules and export read): ``datamodule.prepared``."""
        return self.datamodule.prepared


def load_run(path: str | Path, data: DictConfig | None = None) -> LoadedRun:
    """A run folder or one of its checkpoints back as values (``xsell.load_run``); the run's best checkpoint
    unless a checkpoint is named (``last.ckpt`` when there is no best one). ``data`` replaces the run's own
    data config or changes some of its keys (:func:`run_data_config`: evaluate on another log; the run's
    inputs and item indices are kept)."""
    run = RunDir.of(path)
    ckpt = Path(path) if Path(path).suffix == ".ckpt" else (
        run.best_checkpoint if run.best_checkpoint.is_file() else run.last_checkpoint)
    config = run.load_config(needed_by=ckpt)
    model, datamodule = load_checkpoint_model(ckpt, data)
    return LoadedRun(run, config, model, datamodule, datamodule.prepared.item_vocab, run.load_metrics(), ckpt,
                     run.bundle if run.bundle.is_dir() else None)
