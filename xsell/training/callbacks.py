"""Callbacks that measure a run: training wall time, throughput and peak memory."""

from __future__ import annotations

import resource
import sys
import time

import pytorch_lightning as pl
import torch


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MB (plus the accelerator's peak when on CUDA)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mb = rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024
    if torch.cuda.is_available():
        rss_mb += torch.cuda.max_memory_allocated() / 2**20
    return rss_mb


class RunStatistics(pl.Callback):
    """Records epochs, training seconds (training batches only, no validation), sequences per second (all
    processes together), the number of processes and the training batches each runs per epoch."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.sequences = 0
        self.epochs = 0
        self.world_size = 1
        self.train_batches_per_epoch = 0
        self._epoch_start = 0.0
        self._validation_seconds = 0.0
        self._validation_start = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.world_size = trainer.world_size
        self.train_batches_per_epoch = trainer.num_training_batches  # this process's share
        self._epoch_start = time.perf_counter()  # a run resumed inside an epoch skips that epoch's start hook

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._validation_seconds = 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.sequences += len(batch)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_seconds += time.perf_counter() - self._validation_start

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.train_seconds += time.perf_counter() - self._epoch_start - self._validation_seconds
        self.epochs += 1

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size > 1:  # every process trained its own share of the windows
            shares = torch.tensor(float(self.sequences), dtype=torch.float64, device=pl_module.device)
            self.sequences = int(trainer.strategy.reduce(shares, reduce_op="sum").item())

    def state_dict(self) -> dict[str, float]:
        """The totals so far: a resumed run adds its epochs to those of the run it continues."""
        return {"train_seconds": self.train_seconds, "sequences": self.sequences, "epochs": self.epochs}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.train_seconds = float(state_dict["train_seconds"])
        self.sequences = int(state_dict["sequences"])
        self.epochs = int(state_dict["epochs"])

    def summary(self) -> dict[str, float]:
        return {
            "epochs": self.epochs,
            "train_seconds": self.train_seconds,
            "train_sequences_per_second": self.sequences / self.train_seconds if self.train_seconds else 0.0,
            "peak_memory_mb": peak_memory_mb(),
            "world_size": self.world_size,
            "train_batches_per_epoch": self.train_batches_per_epoch,
        }
