"""``train_config`` / ``xsell.train_run``: training from Python composes the packaged config like the CLI
(the runs themselves are trained by tests/test_train.py and, through ``train_run``, tests/test_docs.py)."""

from __future__ import annotations

import re

import xsell
from xsell.training.fitting import train_config


def test_train_config_composes_the_packaged_config_with_overrides(tmp_path):
    cfg = train_config(["model=gru4rec", "trainer.max_epochs=2"], tmp_path / "run")
    assert cfg.model._target_ == "xsell.models.GRU4Rec" and cfg.trainer.max_epochs == 2
    assert cfg.paths.output_dir == str(tmp_path / "run")


def test_train_config_picks_a_new_run_folder_like_the_cli():
    default = train_config([]).paths.output_dir
    assert re.fullmatch(r"outputs/train/runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{6}", default), default
    assert train_config(["task_name=mine"]).paths.output_dir.startswith("outputs/mine/runs/")
    assert default != train_config([]).paths.output_dir  # microseconds: a folder of its own


def test_the_run_level_api_is_reachable_from_the_top_level_package():
    assert callable(xsell.train_run) and callable(xsell.load_run) and callable(xsell.export.load_bundle)
