"""``python -m xsell.export`` / ``xsell-export``: a training checkpoint to a verified serving bundle.

The Hydra entry point only composes ``configs/export.yaml``; :func:`run` does the work (tests call it with
a config built by ``hydra.compose``).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console

from xsell.cli import run_cli
from xsell.config_checks import check_config
from xsell.export.bundle import load_bundle
from xsell.export.run import export_checkpoint, print_example
from xsell.train import CONFIG_DIR


def run(cfg: DictConfig) -> Path:
    """Export ``cfg.ckpt`` to ``cfg.out`` (default ``<run>/bundle``), reload it verified, print a summary
    and, when ``cfg.history`` is given, its top ``cfg.k`` items."""
    check_config(cfg)
    rules = instantiate(cfg.rules) if cfg.get("rules") else None  # configs/rules/<name>.yaml
    key_file = cfg.get("key_file")
    out = export_checkpoint(cfg.ckpt, cfg.out, overwrite=cfg.overwrite, rules=rules, key_file=key_file)
    bundle = load_bundle(out, key_file=key_file)
    console = Console()
    for name, result in bundle.manifest["parity"].items():
        console.print(f"{name}: top-{result['k']} of {result['rows']} histories identical to the eager model: "
                      f"{result['index_mismatches'] == 0}, max score difference {result['max_abs_diff']:.2e}")
    for kind, rules in bundle.manifest.get("rules", {}).items():  # compiled / left_out
        if rules:
            console.print(f"cross-sell rules {kind.replace('_', ' ')}: {', '.join(r['rule'] for r in rules)}")
    if cfg.history:
        print_example(bundle, [str(i) for i in cfg.history], k=cfg.k, console=console)
    console.print(f"{bundle.manifest['model']['name']} bundle -> {out}")
    return out


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
@run_cli
def main(cfg: DictConfig) -> None:
    run(cfg)
