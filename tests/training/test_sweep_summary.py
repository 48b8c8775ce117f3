"""A multirun ends with summary.csv / summary.md in its folder: one row per job, the best job by validation."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from xsell.training.sweep_summary import SUMMARY_CSV, SUMMARY_MD, summarise_sweep

ROOT = Path(__file__).resolve().parents[2]


def fake_job(sweep: Path, number: int, overrides: list[str], metrics: dict | None) -> Path:
    folder = sweep / str(number)
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), folder / ".hydra" / "overrides.yaml")
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_rows_sorted_by_validation_and_best_chosen_without_test(tmp_path):
    """The best job has the highest validation value even though another job has a higher test value; a job
    without metrics.json (failed) is listed last with blank metrics; jobs 2 and 10 are not confused."""
    fake_job(tmp_path, 0, ["lr=0.1", "seed=0"], {"val": {"ndcg@10": 0.20}, "test": {"ndcg@10": 0.50},
                                                 "wall_seconds": 3.0})
    fake_job(tmp_path, 2, ["lr=0.2", "seed=0"], {"val": {"ndcg@10": 0.30}, "test": {"ndcg@10": 0.10},
                                                 "wall_seconds": 4.0})
    fake_job(tmp_path, 10, ["lr=0.3", "seed=0"], None)
    rows = summarise_sweep(tmp_path, "val/ndcg@10")
    assert [row.job for row in rows] == ["2", "0", "10"]
    assert (rows[0].validation, rows[0].test, rows[0].seconds) == (0.30, 0.10, 4.0)
    assert rows[2].validation is None and rows[2].test is None
    table = list(csv.DictReader((tmp_path / SUMMARY_CSV).open()))
    assert [r["job"] for r in table] == ["2", "0", "10"]
    assert table[0]["overrides"] == "lr=0.2 seed=0" and float(table[0]["test/ndcg@10"]) == 0.10
    assert table[2]["val/ndcg@10"] == ""
    markdown = (tmp_path / SUMMARY_MD).read_text()
    assert "Best job: **2** (`lr=0.2`)" in markdown and "Every job: `seed=0`" in markdown
    assert markdown.count("\n| ") == 4  # header + 3 jobs


def test_multirun_writes_summary(tmp_path):
    """A real 2-job multirun (1 epoch, tiny data) writes both files; the best job is the one with the higher
    validation NDCG@10 in its own metrics.json."""
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "xsell.train", "-m", "model.dim=8,16", "data.source.n_events=3000",
               "trainer.max_epochs=1", "++trainer.limit_train_batches=2", "trainer.accelerator=cpu",
               "export=false", "baseline=false", "threads=1", "logger=csv", f"hydra.sweep.dir={sweep}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    table = list(csv.DictReader((sweep / SUMMARY_CSV).open()))
    assert sorted(r["job"] for r in table) == ["0", "1"]
    validation = {job: json.loads((sweep / job / "metrics.json").read_text())["val"]["ndcg@10"] for job in "01"}
    best = max(validation, key=validation.get)
    assert table[0]["job"] == best and float(table[0]["val/ndcg@10"]) == pytest.approx(validation[best])
    assert {r["job"]: r["overrides"].split()[0] for r in table} == {"0": "model.dim=8", "1": "model.dim=16"}
    assert f"Best job: **{best}**" in (sweep / SUMMARY_MD).read_text()
