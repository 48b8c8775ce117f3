"""Lightning messages that tell an xsell user nothing, silenced narrowly in this one place.

Each filter names the exact message and where it comes from, so every other warning still shows:

- Lightning's pytree helper builds torch's deprecated ``LeafSpec`` whenever it wraps a data loader (every fit,
  validate and test): a ``FutureWarning`` about Lightning's own code, nothing a user can act on.
- Lightning logs an advertisement for its cloud logger (``litlogger``) each time a Trainer is built.
- With an ``OnExceptionCheckpoint`` (xsell's ``interrupted.ckpt``), Lightning turns a fresh fit's
  ``ckpt_path=None`` into ``"last"`` and warns twice: that no model was given, and that no last checkpoint
  exists. A fresh run's folder is new (claimed by :class:`xsell.runs.RunDir`), so there is nothing to load; a
  resumed run names its checkpoint and never gets here.
- A resumed run writes into its own ``checkpoints/`` and ``csv/`` folders, which Lightning reports as "exists
  and is not empty" (the first part's CSV log is kept aside by :func:`xsell.training.resume.keep_csv_logs`):
  silenced for resumed runs only (a fresh run's folder is new).

Importing :mod:`xsell.training.module` (which every xsell training run uses) installs both, and its
``setup`` hook re-installs them for each fit, validate and test (a ``warnings.catch_warnings`` block of the
caller, pytest's included, drops filters added before it).
"""

from __future__ import annotations

import logging
import warnings

LEAFSPEC_DEPRECATION = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
LITLOGGER_TIP = "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]"
FRESH_FIT_MESSAGES = (r"`\.fit\(ckpt_path=None\)` was called without a model",
                      r'\.fit\(ckpt_path="last"\) is set, but there is no last checkpoint available')
RESUMED_FOLDERS = {r"Checkpoint directory .* exists and is not empty": r"pytorch_lightning\.callbacks\.model_checkpoint",
                   r"Experiment logs directory .* exists and is not empty": r"lightning_fabric\.loggers\.csv_logs"}
LIGHTNING_INFO_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


class DropMessagesStartingWith(logging.Filter):
    """A logging filter that drops records whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def silence_lightning_noise(resumed: bool = False) -> None:
    """Install the filters above (idempotent: a second call adds nothing); ``resumed`` adds the one for a
    resumed run's checkpoint folder."""
    for message, module in RESUMED_FOLDERS.items() if resumed else ():
        warnings.filterwarnings("ignore", message=message, module=module)
    warnings.filterwarnings("ignore", message=LEAFSPEC_DEPRECATION, category=FutureWarning,
                            module=r"pytorch_lightning\.utilities\._pytree")
    for message in FRESH_FIT_MESSAGES:
        warnings.filterwarnings("ignore", message=message,
                                module=r"pytorch_lightning\.trainer\.connectors\.checkpoint_connector")
    for name in LIGHTNING_INFO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropMessagesStartingWith) and f.prefix == LITLOGGER_TIP for f in logger.filters):
            logger.addFilter(DropMessagesStartingWith(LITLOGGER_TIP))
