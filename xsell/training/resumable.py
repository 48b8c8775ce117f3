"""What a checkpoint needs beyond Lightning's own so that a resumed run continues exactly where it stopped.

Lightning's checkpoint already holds the weights, the optimizer and scheduler state, the loop counters and
the callbacks' state (best score, early-stopping patience). Two things are missing, and two callbacks add
them:

- :class:`TrainingState`: the random streams (torch, CUDA, numpy, Python: dropout, sampled negatives) and
  whether the fit was told to stop (early stopping), stored as tensors and plain values so the checkpoint
  still loads with ``weights_only=True``. The data are the data module's own state
  (``SequenceDataModule.state_dict``): the position in the epoch's batches, whose order depends only on the
  seed and the epoch (:class:`xsell.data.sampler.LengthGroupedBatchSampler`), and the Cloze masks' stream.
- :class:`InterruptCheckpoint`: ``interrupted.ckpt`` when a fit stops early. SIGTERM already makes Lightning
  stop at the next batch boundary; Ctrl-C (SIGINT) is turned into the same graceful stop, so the checkpoint
  never holds a half-applied optimizer step. A second Ctrl-C stops at once, without a checkpoint.
"""

from __future__ import annotations

import random
import signal
import threading
from types import FrameType
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import OnExceptionCheckpoint
from pytorch_lightning.trainer.states import TrainerFn

from xsell import runs

INTERRUPTED_CHECKPOINT = runs.INTERRUPTED_CHECKPOINT.removesuffix(".ckpt")  # Lightning adds the suffix


class TrainingState(pl.Callback):
    """Saves and restores the process's random streams and the trainer's ``should_stop`` with each checkpoint."""

    def __init__(self) -> None:
        self._trainer: pl.Trainer | None = None
        self._should_stop = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        return {"random": random_state(), "should_stop": bool(self._trainer and self._trainer.should_stop)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self._trainer is not None and self._trainer.state.fn != TrainerFn.FITTING:
            return  # validating or testing a checkpoint restores its callbacks too: only a resumed fit continues
        set_random_state(state_dict["random"])
        self._should_stop = bool(state_dict.get("should_stop", False))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning does not keep ``should_stop``: an early-stopped run resumed after its last epoch (stopped
        # during its final test, say) would otherwise train on.
        if self._should_stop:
            trainer.should_stop = True
            self._should_stop = False


def random_state() -> dict[str, Any]:
    """The torch (and CUDA), numpy and Python random states as tensors and plain values."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": int(version), "state": torch.tensor(python_state, dtype=torch.int64),
                   "gauss": python_gauss},
    }


def set_random_state(state: dict[str, Any]) -> None:
    """Restore what :func:`random_state` recorded (CUDA streams only where this process has those devices)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["position"], numpy["has_gauss"],
                         numpy["gauss"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))


class InterruptCheckpoint(OnExceptionCheckpoint):
    """Writes ``<dirpath>/<filename>.ckpt`` when a fit stops on SIGTERM, SIGINT (Ctrl-C) or an exception; a fit
    that ends normally removes it (``last.ckpt`` then holds the end of training).

    Only fitting saves: once the fit is over, ``last.ckpt`` is the state to continue from. A first SIGINT during
    the fit is handled as Lightning handles SIGTERM (stop at the next batch boundary, then this checkpoint);
    ``received`` names the signal that stopped the fit (``None`` for an exception).
    """

    def __init__(self, dirpath: str, filename: str = INTERRUPTED_CHECKPOINT) -> None:
        super().__init__(dirpath, filename)
        self.received: signal.Signals | None = None
        self._saved_handler: Any = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.received = None
        # Lightning installs its SIGTERM handler just before this hook and restores every handler after the fit
        if threading.current_thread() is threading.main_thread():
            self._saved_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, self._saved_handler)  # a second Ctrl-C interrupts at once
        self.received = signal.SIGINT
        lightning = signal.getsignal(signal.SIGTERM)  # sets trainer.received_sigterm: stop at the next batch end
        if not callable(lightning):  # no fit is running after all: an ordinary Ctrl-C
            raise KeyboardInterrupt
        lightning(signal.SIGTERM, frame)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            return
        if isinstance(exception, KeyboardInterrupt):  # a second Ctrl-C: maybe inside an optimizer step
            self.received = signal.SIGINT
            return
        if trainer.received_sigterm and self.received is None:
            self.received = signal.SIGTERM
        super().on_exception(trainer, pl_module, exception)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == TrainerFn.FITTING:  # the fit ended normally: its last.ckpt supersedes this one
            super().teardown(trainer, pl_module, stage)
