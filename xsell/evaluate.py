"""``python -m xsell.evaluate`` / ``xsell-evaluate``: evaluate a checkpoint or a baseline, and report.

The data set is configured exactly as for training (``data=sasrec_txt data.path=...``); ``ckpt=PATH``
evaluates a training checkpoint, ``baselines=pop`` (or another of ``configs/baselines/``) a baseline. The
work is :func:`xsell.evaluation.run.evaluate_run`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from xsell.cli import run_cli
from xsell.evaluation.run import evaluate_run
from xsell.training.builders import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
@run_cli
def main(cfg: DictConfig) -> None:
    evaluate_run(cfg)


if __name__ == "__main__":
    main()
