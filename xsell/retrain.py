"""``python -m xsell.retrain`` / ``xsell-retrain``: scheduled retraining with a champion/challenger check.

Warm-start a candidate from the serving model on a fresh event log, compare both on the log's newest slice
with a paired test, replace the bundle only when the candidate wins (``configs/retrain.yaml``); the work
is :func:`xsell.training.retraining.retrain`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from xsell.cli import run_cli
from xsell.training.builders import CONFIG_DIR
from xsell.training.retraining import retrain


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="retrain")
@run_cli
def main(cfg: DictConfig) -> None:
    retrain(cfg)


if __name__ == "__main__":
    main()
