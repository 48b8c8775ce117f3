"""Lightning's noise is filtered by exact message and origin; everything else still shows."""

from __future__ import annotations

import logging
import warnings

import pytorch_lightning as pl
from pytorch_lightning.utilities._pytree import _tree_flatten

from xsell.training.quiet import LITLOGGER_TIP, silence_lightning_noise


def test_leafspec_deprecation_silenced_only_from_lightning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_lightning_noise()
        _tree_flatten(object())  # Lightning builds a LeafSpec here
        warnings.warn_explicit("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, "mine.py", 1,
                               module="mine")  # the same words from elsewhere still show
    assert [(w.category, w.filename) for w in caught] == [(FutureWarning, "mine.py")]


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_litlogger_tip_dropped_other_trainer_messages_kept():
    silence_lightning_noise()
    silence_lightning_noise()  # idempotent
    # a handler on Lightning's own logger: other tests (and Lightning) may stop it propagating to the root
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    recorder, level = Recorder(), logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.INFO)
    try:
        pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)
    messages = [record.getMessage() for record in recorder.records]
    assert any(m.startswith("GPU available") for m in messages)
    assert not any(m.startswith(LITLOGGER_TIP) for m in messages)
    assert sum(isinstance(f, logging.Filter) for f in logging.getLogger("pytorch_lightning.utilities.rank_zero")
               .filters) == 1
