"""``python -m xsell.export`` / ``xsell-export``: a training checkpoint to a verified serving bundle.

The Hydra entry point only composes ``configs/export.yaml``; :func:`xsell.export.run.export_run` does the
work (tests call it with a config built by ``hydra.compose``).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from xsell.cli import run_cli
from xsell.export.run import export_run
from xsell.training.builders import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
@run_cli
def main(cfg: DictConfig) -> None:
    export_run(cfg)


if __name__ == "__main__":
    main()
