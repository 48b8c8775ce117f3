"""``python -m xsell.train trainer=ddp`` with two CPU processes (gloo) against the same run in one process.

The learning rate is 0, so both runs evaluate the same (seeded) initial weights: the two processes must then
rank every validation and test target exactly as one process does, and only the float64 summation order of
the metric sums differs (hence 1e-12). What DDP changes is the training: half the batches per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_train import config
from xsell.training.fitting import train

TINY = ["data.source.n_events=3000", "data.batch_size=16", "data.eval_batch_size=32", "trainer.max_epochs=1",
        "model.dim=16", "logger=csv", "export=false", "module.optimizer.lr=0.0", "callbacks.progress_bar=null"]


def test_two_processes_share_the_batches_and_agree_with_one(tmp_path):
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "xsell.train", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
               f"hydra.run.dir={run}", *TINY]
    done = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test metrics (full ranking,") == 1  # rank 0 alone reports
    two = json.loads((run / "metrics.json").read_text())
    one = train(config(tmp_path / "one", "trainer.accelerator=cpu", *TINY))

    assert (one["world_size"], two["world_size"]) == (1, 2)
    windows = one["data"]["training_windows"]
    assert one["train_batches_per_epoch"] == -(-windows // 16)  # every window once
    assert two["train_batches_per_epoch"] == one["train_batches_per_epoch"] // 2  # each process half
    for stage in ("val", "test"):
        assert two[stage].keys() == one[stage].keys()
        assert two[stage] == pytest.approx(one[stage], rel=1e-12, abs=1e-12)
