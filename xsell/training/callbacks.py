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
    """Records epochs, training seconds (training batches only, no validation) and sequences per second."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.sequences = 0
        self.epochs = 0
        self._epoch_start = 0.0
        self._validation_seconds = 0.0
        self._validation_start = 0.0

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

    def summary(self) -> dict[str, float]:
        return {
            "epochs": self.epochs,
            "train_seconds": self.train_seconds,
            "train_sequences_per_second": self.sequences / self.train_seconds if self.train_seconds else 0.0,
            "peak_memory_mb": peak_memory_mb(),
        }
