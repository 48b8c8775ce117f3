"""``python -m xsell.rank``: fit the hybrid two-stage model, evaluate it on test beside the baselines, export.

The work is :func:`xsell.ranking.run.rank_run`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from xsell.cli import run_cli
from xsell.ranking.run import rank_run
from xsell.training.builders import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="rank")
@run_cli
def main(cfg: DictConfig) -> None:
    rank_run(cfg)


if __name__ == "__main__":
    main()
