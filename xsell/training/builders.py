"""Objects from configs: the data module, the model for its prepared data, a baseline, the shipped config folder.

The entry points (``xsell.train``, ``xsell.evaluate``, ``xsell.export``, ``xsell.retrain``) and everything
that rebuilds a run (checkpoint loading, retraining) build through these functions, so a config means
the same thing everywhere.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from xsell.data.datamodule import SequenceDataModule
from xsell.data.prepared import PreparedData
from xsell.data.sequences import NUM_TIME_GAP_BUCKETS
from xsell.data.vocabulary import Vocabulary
from xsell.models.inputs import InputSpec

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")  # shipped with the package
BASELINE_GROUP = "baselines"  # not "baseline": train.yaml's baseline=true|false switch


def model_objective(model_config: DictConfig) -> str:
    """The training batches the configured model needs (``causal`` or ``cloze``)."""
    return getattr(get_class(model_config._target_), "objective", "causal")


def build_datamodule(cfg: DictConfig, base_item_vocab: Vocabulary | None = None) -> SequenceDataModule:
    """The data module of ``cfg.data`` (set up), with the objective the chosen model trains with, the explicit
    feedback of ``cfg.feedback`` (if any) and, for a warm start, the item vocabulary to grow."""
    extra: dict[str, Any] = {} if base_item_vocab is None else {"base_item_vocab": base_item_vocab}
    if cfg.get("feedback"):
        extra.update(feedback=instantiate(cfg.feedback.source), feedback_per_event=cfg.feedback.per_event)
    datamodule = instantiate(cfg.data, objective=model_objective(cfg.model), **extra)
    datamodule.setup()
    return datamodule


def build_run_datamodule(run_config: DictConfig, data_config: DictConfig,
                         base_item_vocab: Vocabulary | None = None) -> SequenceDataModule:
    """The data module of ``data_config`` (set up) with the inputs and objective of a training run's
    config, so that a model rebuilt from that run reads the features it was trained on."""
    inputs = run_config.inputs
    extra: dict[str, Any] = {} if base_item_vocab is None else {"base_item_vocab": base_item_vocab}
    datamodule = instantiate(data_config, objective=model_objective(run_config.model),
                             item_features=list(inputs.item_features),
                             token_hash_buckets=inputs.get("token_hash_buckets"),
                             context_features=list(inputs.get("context_features") or []),
                             user_features=list(inputs.get("user_features") or []), **extra)
    datamodule.setup()
    return datamodule


def build_model(cfg: DictConfig, data: PreparedData) -> torch.nn.Module:
    """``cfg.model`` completed with the sizes only the data knows (``datamodule.prepared``), and the hybrid
    inputs switched on."""
    target = get_class(cfg.model._target_)
    if not (isinstance(target, type) and issubclass(target, torch.nn.Module)):
        raise ValueError(f"model {cfg.model._target_} is a baseline, not a trainable model: "
                         "evaluate it with `python -m xsell.evaluate baselines=...`")
    return instantiate(cfg.model)(input_spec(cfg.inputs, data))


def input_spec(inputs: DictConfig, data: PreparedData) -> InputSpec:
    """The sizes a model needs from the prepared data (``inputs``: which hybrid inputs are switched on)."""
    features = data.item_features
    return InputSpec(
        num_items=data.num_items,
        max_len=data.max_len,
        num_event_types=data.num_event_types if inputs.event_types else 0,
        num_time_gap_buckets=NUM_TIME_GAP_BUCKETS if inputs.time_gaps else 0,
        feature_ids=None if features is None else torch.from_numpy(features.ids),
        feature_specs=() if features is None else tuple(features.specs),
        context_specs=tuple(data.context_specs),
        user_specs=tuple(data.user_specs),
    )


def baseline_names() -> list[str]:
    """The baselines shipped as configs (``configs/baselines/<name>.yaml``)."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / BASELINE_GROUP).glob("*.yaml"))


def instantiate_baseline(node: Any, exclude_seen: bool) -> Any:
    """An unfitted baseline from a ``configs/baselines`` node; one that learns from the protocol (the hybrid's
    ranker: ``exclude_seen``) is given the run's."""
    if "exclude_seen" in inspect.signature(get_class(node._target_)).parameters:
        return instantiate(node, exclude_seen=exclude_seen)
    return instantiate(node)


def build_baseline(name: str) -> Any:
    """An unfitted baseline from its config group file (``configs/baselines/<name>.yaml``)."""
    path = Path(CONFIG_DIR) / BASELINE_GROUP / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown baseline {name!r} (no {path}); known: {baseline_names()}")
    return instantiate(OmegaConf.load(path))


def check_optimized_metric(metric: str, sampled_negatives: int | None) -> None:
    """``optimized_metric`` must name a validation metric the run logs: never a test one, and a sampled one
    only when the module ranks sampled negatives (``module.sampled_negatives``)."""
    stage, _, name = metric.partition("/")
    if stage != "val" or not name:
        raise ValueError(f"optimized_metric={metric}: early stopping, checkpoints and sweeps follow a validation "
                         "metric such as val/ndcg@10 (never tune on test)")
    if name.startswith("sampled_") and not sampled_negatives:
        raise ValueError(f"optimized_metric={metric} is a sampled metric, but module.sampled_negatives is not set: "
                         "add module.sampled_negatives=100")
