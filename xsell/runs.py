"""A training run's folder as a value: where each part of a run lives, and how it is read and written.

``xsell.train`` writes one folder per run::

    <run>/config.yaml             the resolved training config (rebuilds the model and its data)
    <run>/item_vocabulary.json    the run's item indices (a warm-started run grew its checkpoint's)
    <run>/metrics.json            validation and test metrics, written once at the end (atomically)
    <run>/checkpoints/best.ckpt   the best validation epoch (Lightning; ``last.ckpt``, the end of the latest
                                  epoch, beside it, and ``interrupted.ckpt`` after a stop by signal or error)
    <run>/bundle/                 the serving bundle (``xsell.export``)
    <run>/bundle-2/, bundle-3/... bundles of the same checkpoint exported with other options
    <run>/index/                  the FAISS index of the item vectors (``index=...``)

Every reader and writer of a run (training, evaluation, export, retraining, warm start) goes through
:class:`RunDir`, so the layout is spelled out here only.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from xsell.atomic import write_json_atomic, write_text_atomic
from xsell.data.vocabulary import Vocabulary
from xsell.errors import CheckpointError, FormatError
from xsell.run_folder import claim_run_folder, reenter_run_folder, release_run_folder
from xsell.training.checkpoint_file import read_checkpoint

CONFIG_FILE = "config.yaml"
VOCABULARY_FILE = "item_vocabulary.json"
METRICS_FILE = "metrics.json"
CHECKPOINTS = "checkpoints"
BEST_CHECKPOINT = "best.ckpt"
LAST_CHECKPOINT = "last.ckpt"
INTERRUPTED_CHECKPOINT = "interrupted.ckpt"
MODEL_PREFIX = "model."  # the LightningModule holds the model as ``self.model``


@dataclass(frozen=True)
class RunDir:
    """The folder of one training run (it need not exist yet)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of_checkpoint(cls, ckpt: str | Path) -> RunDir:
        """The run a checkpoint belongs to (``<run>/checkpoints/<name>.ckpt``)."""
        return cls(Path(ckpt).parent.parent)

    @classmethod
    def of(cls, path: str | Path) -> RunDir:
        """A run folder, or the run of a checkpoint file."""
        path = Path(path)
        return cls.of_checkpoint(path) if path.suffix == ".ckpt" else cls(path)

    # -- paths ------------------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def vocabulary_file(self) -> Path:
        return self.path / VOCABULARY_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / BEST_CHECKPOINT

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT

    @property
    def interrupted_checkpoint(self) -> Path:
        return self.checkpoints / INTERRUPTED_CHECKPOINT

    @property
    def bundle(self) -> Path:
        return self.path / "bundle"

    def bundles(self) -> Iterator[Path]:
        """``<run>/bundle``, then ``bundle-2``, ``bundle-3``, ... (endless: the caller stops at a free one)."""
        yield self.bundle
        yield from (self.path / f"bundle-{n}" for n in itertools.count(2))

    @property
    def index(self) -> Path:
        return self.path / "index"

    # -- writers ----------------------------------------------------------------------------------------
    def create(self) -> RunDir:
        """Make the folder (and its parents) and claim it for this run (:func:`claim_run_folder`: a folder
        another run already writes to is refused); returns ``self``."""
        claim_run_folder(self.path)
        return self

    def reenter(self) -> RunDir:
        """Continue this folder's run (a resumed run; :func:`reenter_run_folder`: refused while a process
        still trains in it); returns ``self``."""
        reenter_run_folder(self.path)
        return self

    def release(self) -> None:
        """End this process's hold on the folder (after training), so that the run can be resumed."""
        release_run_folder(self.path)

    def save_config(self, config: DictConfig) -> Path:
        """Write the resolved config (atomically)."""
        return write_text_atomic(self.config_file, OmegaConf.to_yaml(config, resolve=True))

    def save_vocabulary(self, vocabulary: Vocabulary) -> Path:
        vocabulary.save(self.vocabulary_file)
        return self.vocabulary_file

    def save_metrics(self, metrics: dict[str, Any]) -> Path:
        """Write ``metrics.json`` (atomically)."""
        return write_json_atomic(self.metrics_file, metrics)

    # -- readers ----------------------------------------------------------------------------------------
    def load_config(self, *, needed_by: str | Path | None = None) -> DictConfig:
        """The run's saved config; ``CheckpointError`` naming the file (and ``needed_by``) when it is missing."""
        if not self.config_file.is_file():
            beside = f" beside {needed_by}" if needed_by is not None else ""
            raise CheckpointError(f"no {CONFIG_FILE} of the training run{beside} (expected {self.config_file})")
        return OmegaConf.load(self.config_file)

    def load_vocabulary(self, *, needed_by: str | Path | None = None) -> Vocabulary:
        """The run's item vocabulary; ``CheckpointError`` naming the file when it is missing or unreadable."""
        if not self.vocabulary_file.is_file():
            beside = f" beside {needed_by}" if needed_by is not None else ""
            raise CheckpointError(f"no {VOCABULARY_FILE} of the training run{beside} (expected "
                                  f"{self.vocabulary_file}); runs of xsell.train write it")
        try:
            return Vocabulary.load(self.vocabulary_file)
        except FormatError as exc:
            raise CheckpointError(f"cannot read the item vocabulary of {needed_by or self.path}: {exc}") from exc

    def has_vocabulary(self) -> bool:
        return self.vocabulary_file.is_file()

    def load_metrics(self) -> dict[str, Any] | None:
        """``metrics.json`` of the run, or ``None`` when the run has none."""
        return json.loads(self.metrics_file.read_text()) if self.metrics_file.is_file() else None


def checkpoint_weights(ckpt: str | Path) -> dict[str, Tensor]:
    """The model's tensors of a Lightning checkpoint (its ``model.*`` entries, prefix removed), read without
    pickle (:func:`xsell.training.checkpoint_file.read_checkpoint`).

    Raises ``CheckpointError`` naming the file when it is missing, unreadable or needs pickle.
    """
    state = read_checkpoint(ckpt)["state_dict"]
    return {k.removeprefix(MODEL_PREFIX): v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
