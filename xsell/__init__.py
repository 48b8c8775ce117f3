"""xsell: cross-sell recommendation research, from behavioural logs to a served scorer.

``import xsell`` stays light: subpackages (``xsell.data``, ``xsell.models``, ``xsell.export``, ...) and
:func:`load_run` / :func:`train_run` load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

SUBPACKAGES = ("abtest", "bandits", "baselines", "crosssell", "data", "evaluation", "export", "models", "nn",
               "offpolicy", "retrieval", "simulation", "training")
__all__ = ["__version__", "load_run", "train_run", *SUBPACKAGES]


def __getattr__(name: str) -> Any:
    """Load subpackages, ``load_run`` (a run folder or checkpoint back as values) and ``train_run`` (train
    from Python, get the run back) on first use."""
    if name == "load_run":
        from xsell.training.checkpoint import load_run

        return load_run
    if name == "train_run":
        from xsell.training.fitting import train_run

        return train_run
    if name in SUBPACKAGES:
        return importlib.import_module(f"xsell.{name}")
    raise AttributeError(f"module 'xsell' has no attribute {name!r}")
