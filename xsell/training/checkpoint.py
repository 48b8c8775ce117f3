"""A training run's checkpoint back as an eval-mode model, with the data module it is evaluated on."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from xsell.data.datamodule import SequenceDataModule
from xsell.errors import CheckpointError
from xsell.runs import RunDir, checkpoint_weights
from xsell.training.builders import build_model, build_run_datamodule


def load_checkpoint_model(ckpt: str | Path, datamodule_config: DictConfig) -> tuple[torch.nn.Module, SequenceDataModule]:
    """The model of a training checkpoint, with the data module of ``datamodule_config`` it is evaluated on
    (the run's inputs and item indices: a warm-started run grew them).

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
    datamodule = build_run_datamodule(run_config, datamodule_config, base)
    model = build_model(run_config, datamodule)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match the model built for this data "
                              f"({datamodule.num_items} items): {str(exc).splitlines()[0]}") from exc
    return model.eval(), datamodule
