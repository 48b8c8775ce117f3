"""``python -m xsell.train`` / ``xsell-train``: train, evaluate (full ranking) and record a run.

The Hydra entry point only composes the config; :func:`xsell.training.fitting.train` does the work and
can be called directly with a config built by ``hydra.compose`` (as the tests do).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from xsell.cli import run_cli
from xsell.training.builders import CONFIG_DIR
from xsell.training.fitting import optimized_value, train


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@run_cli
def main(cfg: DictConfig) -> float | None:
    return optimized_value(cfg, train(cfg))


if __name__ == "__main__":
    main()
