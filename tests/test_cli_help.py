"""Each command's ``--help`` starts with what it does and three examples; export lists no training groups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from xsell.data.cli import main as data_main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"train": "xsell-train", "eval": "xsell-evaluate", "export": "xsell-export", "retrain": "xsell-retrain"}


@pytest.mark.parametrize("config_name", sorted(COMMANDS))
def test_hydra_help_has_description_and_three_examples(config_name):
    overrides = ["ckpt=x"] if config_name == "export" else ["serving=x"] if config_name == "retrain" else []
    with initialize_config_dir(config_dir=str(ROOT / "xsell" / "configs"), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    command = COMMANDS[config_name]
    assert cfg.hydra.help.app_name == command
    assert cfg.hydra.help.header.startswith(f"{command} (python -m xsell.")
    examples = cfg.hydra.help.template.split("Examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(examples) == 3 and all(line.strip().startswith(command) for line in examples)


def test_export_help_lists_only_export_groups():
    done = subprocess.run([sys.executable, "-m", "xsell.export", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("xsell-export (python -m xsell.export): export a training checkpoint")
    assert "rules: complement, cross_sell, serving" in done.stdout
    for training_group in ("loss:", "trainer:", "experiment:", "hparams_search:", "callbacks:"):
        assert training_group not in done.stdout


def test_data_help_has_description_and_three_examples(capsys):
    with pytest.raises(SystemExit):
        data_main(["--help"])
    text = capsys.readouterr().out
    assert text.splitlines()[2].startswith("Generate (or read) a data set")
    examples = text.split("examples:\n", 1)[1].strip().splitlines()
    assert len(examples) == 3 and all(line.strip().startswith("xsell-data") for line in examples)
