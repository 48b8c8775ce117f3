"""An installed xsell (a wheel, not this checkout) carries its configs: ``python -m xsell.train`` runs from a
folder outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_wheel_installs_and_trains_outside_the_repository(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    source = tmp_path / "source"  # a copy, so that building leaves no build/ or egg-info in the checkout
    shutil.copytree(ROOT / "xsell", source / "xsell", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist")], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("xsell-*.whl")
    venv = tmp_path / "venv"  # system site-packages: torch and friends are not downloaded again
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path, env)
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--no-deps", "--force-reinstall", "--no-index", "-q", str(wheel)],
        tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run([python, "-c", "import xsell; print(xsell.__file__)"], elsewhere, env).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the wheel's xsell, not a checkout

    out = elsewhere / "run"
    run([python, "-m", "xsell.train", f"hydra.run.dir={out}", "trainer.max_epochs=1", "data.source.n_events=2000",
         "data.max_len=10", "model.dim=8", "model.layers=1", "++trainer.limit_train_batches=2", "trainer.accelerator=cpu",
         "logger=csv", "callbacks.progress_bar=null", "export=false", "baseline=false", "threads=1"], elsewhere, env)
    assert (out / "metrics.json").is_file() and (out / "checkpoints" / "best.ckpt").is_file()
