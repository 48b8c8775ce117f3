"""A training run's best checkpoint back as an eval-mode model, with the data module it is evaluated on."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from xsell.data.datamodule import SequenceDataModule
from xsell.data.vocabulary import Vocabulary
from xsell.errors import CheckpointError
from xsell.training.checkpoint_file import model_weights
from xsell.training.warm_start import VOCABULARY_FILE


def load_checkpoint_model(ckpt: str | Path, datamodule_config: DictConfig) -> tuple[torch.nn.Module, SequenceDataModule]:
    """The model of a training checkpoint, with the data module it is evaluated on.

    Raises ``CheckpointError`` naming the file when it is missing, unreadable, not from ``xsell.train``,
    or built for another catalog than the data's.
    """
    path = Path(ckpt)
    run_config = path.parent.parent / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not run_config.is_file():
        raise CheckpointError(f"no config.yaml of the training run beside {path} (expected {run_config})")
    train_cfg = OmegaConf.load(run_config)
    weights = model_weights(path)  # tensors and plain values only: a file that needs pickle is refused
    objective = getattr(get_class(train_cfg.model._target_), "objective", "causal")
    vocabulary = run_config.parent / VOCABULARY_FILE  # the run's own indices (a warm-started run grew them)
    base = {"base_item_vocab": Vocabulary.load(vocabulary)} if vocabulary.is_file() else {}
    inputs = train_cfg.inputs
    datamodule = instantiate(datamodule_config, objective=objective, item_features=list(inputs.item_features),
                             token_hash_buckets=inputs.get("token_hash_buckets"),
                             context_features=list(inputs.get("context_features") or []),
                             user_features=list(inputs.get("user_features") or []), **base)
    datamodule.setup()
    from xsell.train import build_model  # the entry point builds models; imported late to avoid a cycle

    model = build_model(train_cfg, datamodule)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match the model built for this data "
                              f"({datamodule.num_items} items): {str(exc).splitlines()[0]}") from exc
    return model.eval(), datamodule
