"""Progress that reads well in a log file: one line per epoch and per evaluation when output is not a terminal.

A live progress bar redraws one line in a terminal; written to a file (``nohup xsell-train > log``) it shows
nothing useful for minutes. :func:`progress_bar` picks Rich's bar for a terminal and :class:`EpochLines`
otherwise; ``configs/callbacks/default.yaml`` builds it. Being a Lightning ``ProgressBar``, ``EpochLines``
also stops Lightning from adding its default bar.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, RichProgressBar

# Metric families an evaluation line shows (the rest are in metrics.json).
SHOWN_METRICS = ("ndcg@", "recall@", "mrr@", "sampled_ndcg@", "sampled_hit@")


class EpochLines(ProgressBar):
    """Prints ``epoch 3/20  train/loss 5.4321  val/ndcg@10 0.1234  12.3 s`` after each training epoch (train loss
    of the epoch's last step, the monitored validation metric, seconds since fit started) and one line of
    metrics after each stand-alone validation or test.

    Args:
        metric: the validation metric shown on epoch lines (the run's ``optimized_metric``).
        stream: where lines go (standard output by default), flushed line by line.
    """

    def __init__(self, metric: str = "val/ndcg@10", stream: TextIO | None = None) -> None:
        super().__init__()
        self.metric = metric
        self.stream = stream
        self._enabled = True
        self._start = time.perf_counter()

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self._enabled:
            print(*args, file=self.stream or sys.stdout, flush=True, **kwargs)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        parts += [f"{name} {float(metrics[name]):.4f}" for name in ("train/loss", self.metric) if name in metrics]
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        self.print("  ".join(parts))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "validate":
            self._print_evaluation(trainer, "val/")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._print_evaluation(trainer, "test/")

    def _print_evaluation(self, trainer: pl.Trainer, prefix: str) -> None:
        shown = [f"{name} {float(value):.4f}" for name, value in trainer.callback_metrics.items()
                 if name.startswith(prefix) and name[len(prefix):].startswith(SHOWN_METRICS)]
        self.print(f"{prefix.rstrip('/')}: " + "  ".join(shown))


def progress_bar(metric: str = "val/ndcg@10", interactive: bool | None = None) -> ProgressBar:
    """Rich's live bar when standard output is a terminal (``interactive`` None: ask ``isatty``), else
    :class:`EpochLines` following ``metric``."""
    if interactive is None:
        interactive = sys.stdout.isatty()
    return RichProgressBar() if interactive else EpochLines(metric)
