"""xsell's GRU4Rec against the official PyTorch GRU4Rec (hidasib/GRU4Rec_PyTorch_Official), session-based protocol.

    python benchmarks/gru4rec_official.py --setup-only                   # the peer's venv (numpy 1, pandas 2)
    python benchmarks/gru4rec_official.py --data synthetic               # grid on validation, then test
    python benchmarks/gru4rec_official.py --data games --epochs 5 --seeds 0 --xsell-grid ce_lr0.01 sampled2048_a0.5
    python benchmarks/gru4rec_official.py --data synthetic --smoke --no-doc   # 1 epoch, 1 setting a side

The official code is research-only licensed, so nothing of it is copied here: ``--peer`` names a checkout of
it (default: a ``git archive`` of the mirror into a temporary folder), and its ``run.py`` runs unchanged in a
virtual environment made with ``--system-site-packages`` (the local torch; numpy 1, pandas 2 and joblib of
its own, see ``PEER_EXTRAS``), one thread (``OMP_NUM_THREADS=1``), from a temporary folder that holds the data. A
three-line driver seeds torch before ``run.py`` (its sampled negatives and dropout; its weights always start
from ``np.random.seed(42)``, the peer's "compatibility mode").

Both sides get the same split, :func:`xsell.data.splits.held_out_users` (``held_out_fraction`` 0.1): users,
or the synthetic shop's sessions, are ordered by their first event; the last 10% are test sessions, the 10%
before them validation sessions, all events of the rest are training events; events of held-out sessions
whose item no training event has are dropped (the official evaluation filters them the same way). The peer
reads it as tab-separated ``SessionId ItemId Time`` files (``Time`` = the event's timestamp: the line number
for Games), xsell as its own data config with ``data.split=held_out_users``.

Both evaluate the official way: every next event of every held-out session from its prefix, full ranking
over all training items, no item excluded, ties against the target (``-e conservative`` on the peer, xsell's
only rule), Recall@20 and MRR@20 averaged over predictions. xsell's test numbers are its training run's
(``exclude_seen=false``), recomputed with :func:`xsell.evaluation.sessions.evaluate_sessions` from the raw
test sessions as a check of the split and the protocol.

Each side tunes a small grid on validation (``GRIDS``), then trains its best setting once per seed and reads
test once per seed. Results go to ``benchmarks/results/gru4rec_official.json`` (data sets merged by name) and
the ``gru4rec_official`` section of ``docs/notes/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import DEFAULT_DATA_DIR, ROOT, machine_info, markers, update_doc, write_results  # noqa: E402

SECTION = "gru4rec_official"
TITLE = "## GRU4Rec: xsell vs the official PyTorch implementation (session-based protocol)"
RESULTS = ROOT / "benchmarks" / "results" / "gru4rec_official.json"
SMOKE_RESULTS = ROOT / "benchmarks" / "results" / "gru4rec_official_smoke.json"
RUNS = ROOT / "benchmarks" / "runs" / "gru4rec_official"
MIRROR = Path("/work/.mirror/hidasib+GRU4Rec_PyTorch_Official/repo")
DEFAULT_VENV = Path(tempfile.gettempdir()) / "gru4rec-env"
# What run.py needs beside the local torch: numpy 1 (under numpy 2's promotion rules its compatibility-mode
# weights come out float64 and torch refuses them), a pandas of that time (under pandas 3 its
# torch.tensor(Series) fails), joblib (imported).
PEER_EXTRAS = ["numpy<2", "pandas<2.3", "joblib"]
EPOCH_TIMER = "benchmarks.recbole_side_by_side.EpochTimer"
HELD_OUT_FRACTION = 0.1
KS = (20,)
DIM = 128  # GRU state = item vector size on both sides (the peer's constrained embedding ties them)

DRIVER = '''\
"""Seed torch, then run the official run.py unchanged; args: SEED RUN_PY RUN_PY_ARGS..."""
import os, runpy, sys, torch
torch.manual_seed(int(sys.argv[1]))
sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))  # as "python run.py" would have it
runpy.run_path(sys.argv[0], run_name="__main__")
'''

# The official "best" cross-entropy style (paramfiles/*_xe_shared_best.py): softmax over the mini-batch's
# targets plus n_sample popularity^sample_alpha negatives, logQ correction, constrained embedding, Adagrad
# (momentum optional), no separate embedding, one GRU layer of DIM units.
OFFICIAL_BASE = {"loss": "cross-entropy", "constrained_embedding": True, "embedding": 0, "elu_param": 0.0,
                 "layers": DIM, "n_sample": 2048, "bpreg": 0.0, "logq": 1.0, "momentum": 0.0}
XSELL_BASE = ["model=gru4rec", f"model.dim={DIM}", "model.layers=1", "model.hidden_dropout=0.0"]
SAMPLED = ["loss=sampled_softmax", "loss.num_negatives=2048", "loss.proposal=popularity", "loss.logq_correction=true"]
# 2,048 popularity^0.5 negatives with logQ, the peer's embedding dropout and per-item output bias
SAMPLED_BIAS = [*SAMPLED, "loss.alpha=0.5", "module.optimizer.lr=0.01", "model.dropout=0.45", "model.output_bias=true"]
GRIDS: dict[str, dict[str, Any]] = {
    "official": {  # learning rate, batch, dropouts, sample_alpha, momentum around the published best settings
        "rees46_like": {"learning_rate": 0.065, "batch_size": 240, "dropout_p_embed": 0.45, "dropout_p_hidden": 0.0,
                        "sample_alpha": 0.5},
        "yoochoose_like": {"learning_rate": 0.07, "batch_size": 48, "dropout_p_embed": 0.0, "dropout_p_hidden": 0.2,
                           "sample_alpha": 0.2},
        "lr0.1_mom0.3": {"learning_rate": 0.1, "batch_size": 64, "dropout_p_embed": 0.25, "dropout_p_hidden": 0.0,
                         "sample_alpha": 0.5, "momentum": 0.3},
        "lr0.03": {"learning_rate": 0.03, "batch_size": 128, "dropout_p_embed": 0.2, "dropout_p_hidden": 0.0,
                   "sample_alpha": 0.5},
    },
    "xsell": {  # xsell's GRU4Rec defaults (full CE, AdamW 0.01, embedding dropout 0.2) and variations
        "ce_lr0.01": ["loss=ce", "module.optimizer.lr=0.01", "model.dropout=0.2"],
        "ce_lr0.003": ["loss=ce", "module.optimizer.lr=0.003", "model.dropout=0.2"],
        "ce_lr0.01_drop0.45_bias": ["loss=ce", "module.optimizer.lr=0.01", "model.dropout=0.45",
                                    "model.output_bias=true"],
        "sampled2048_a0.5": [*SAMPLED, "loss.alpha=0.5", "module.optimizer.lr=0.01", "model.dropout=0.2"],
        "sampled2048_a0.5_drop0.45_bias": SAMPLED_BIAS,
        # item vectors started small, as the peer's (about N(0, 0.01) on Games)
        "sampled_bias_init0.01": [*SAMPLED_BIAS, "model.init_std=0.01"],
        # short windows: gradients through at most 20 steps (the peer back-propagates through one)
        "sampled_bias_len20": [*SAMPLED_BIAS, "data.max_len=20"],
        "sampled_bias_len10": [*SAMPLED_BIAS, "data.max_len=10"],
        "sampled_bias_len5": [*SAMPLED_BIAS, "data.max_len=5"],
        "sampled_bias_len50": [*SAMPLED_BIAS, "data.max_len=50"],
        # windows of 20 laid every 10 events: each target sees at least 11 events
        "sampled_bias_len20_stride10": [*SAMPLED_BIAS, "data.max_len=20", "data.window_stride=10"],
        # the peer's negatives (the batch's targets plus the shared samples), its output bias and dropout
        "official_negatives": [*SAMPLED_BIAS, "loss.in_batch=true"],
        # ... and about the peer's number of updates per epoch (its batches are 240 events, xsell's 64 histories)
        "official_negatives_b16": [*SAMPLED_BIAS, "loss.in_batch=true", "data.batch_size=16"],
        # ... and the peer's optimizer (Adagrad at its learning rate)
        "official_negatives_adagrad": [*SAMPLED_BIAS, "loss.in_batch=true",
                                       "module.optimizer._target_=torch.optim.Adagrad", "module.optimizer.lr=0.065"],
    },
}


# -- the data, split once for both sides -------------------------------------------------------------------
def load_data(name: str, data_dir: Path, workdir: Path) -> tuple[Any, list[str]]:
    """The data set as xsell reads it, and the xsell data overrides that read the same thing.

    ``synthetic``: the embedded synthetic shop (100k events, seed 0), its sessions as the sequences (written
    to a parquet file that xsell reads with ``data=events``); ``games``: ``amazon-games/Video.txt``, users as
    sessions."""
    from xsell.data.readers import read_events, read_sasrec_txt
    from xsell.data.synthetic import synthetic_shop

    if name == "synthetic":
        shop = synthetic_shop(n_events=100_000, seed=0).events
        path = workdir / "synthetic_sessions.parquet"
        shop.select(pl.col("session_id").alias("user_id"), "item_id", "timestamp").write_parquet(path)
        return read_events(path), ["data=events", f"data.path={path}", "data.max_len=50"]
    path = data_dir / "amazon-games" / "Video.txt"
    return read_sasrec_txt(path), ["data=sasrec_txt", f"data.path={path}", "data.max_len=200"]


def write_peer_files(split: Any, workdir: Path) -> dict[str, Any]:
    """``train.tsv`` / ``valid.tsv`` / ``test.tsv`` for the peer, sorted by SessionId then Time (so it sorts
    nothing), and the split's sizes."""
    from xsell.data.splits import HELD_OUT, TEST, TRAIN, VALIDATION

    events = split.events.with_columns(pl.col("user_id").rle_id().alias("SessionId"))  # in xsell's order
    # a session's part: train, validation or test (a held-out session's first event is HELD_OUT; one with
    # no other event makes no prediction on either side and is left out)
    role = pl.col("part").filter(pl.col("part") != HELD_OUT).max().over("user_id")
    events = events.with_columns(role.alias("role"))
    sizes = {}
    for name, part in (("train", TRAIN), ("valid", VALIDATION), ("test", TEST)):
        rows = events.filter(pl.col("role") == part)
        rows.select("SessionId", pl.col("item_id").alias("ItemId"), pl.col("timestamp").alias("Time")).write_csv(
            workdir / f"{name}.tsv", separator="\t")
        sizes[name] = {"sessions": rows.get_column("user_id").n_unique(), "events": rows.height,
                       "predictions": rows.height - rows.get_column("user_id").n_unique()}
    sizes["train"].pop("predictions")
    sizes["items_in_training"] = events.filter(pl.col("role") == TRAIN).get_column("item_id").n_unique()
    return sizes


# -- the official side -------------------------------------------------------------------------------------
def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def setup_venv(venv: Path) -> None:
    """A venv on top of the system packages (torch, numpy) with what run.py imports besides."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(venv_python(venv)), "-m", "pip", "install", "--progress-bar", "off", *PEER_EXTRAS],
                   check=True)


def peer_versions(venv: Path, peer: Path) -> dict[str, Any]:
    code = ("import json, platform, torch, numpy, pandas; print(json.dumps({'python': platform.python_version(), "
            "'torch': torch.__version__, 'numpy': numpy.__version__, 'pandas': pandas.__version__}))")
    done = subprocess.run([str(venv_python(venv)), "-c", code], capture_output=True, text=True, check=True)
    versions = json.loads(done.stdout.strip().splitlines()[-1])
    if MIRROR.exists():
        commit = subprocess.run(["git", "-C", str(MIRROR), "log", "-1", "--format=%H %cI"], capture_output=True,
                                text=True).stdout.split()
        versions.update(peer_commit=commit[0], peer_commit_date=commit[1])
    versions["peer"] = "hidasib/GRU4Rec_PyTorch_Official"
    return versions


def export_peer(target: Path) -> Path:
    """``git archive`` of the mirror's HEAD into ``target`` (the code is run, never copied into xsell)."""
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(MIRROR), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def parameter_string(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items())


def run_official(params: dict[str, Any], *, peer: Path, venv: Path, workdir: Path, tests: list[str], seed: int,
                 epochs: int, log: Path) -> dict[str, Any]:
    """Train with run.py on ``train.tsv`` and evaluate on ``tests``; returns epoch seconds and metrics per file."""
    driver = workdir / "official_driver.py"
    driver.write_text(DRIVER)
    full = {**OFFICIAL_BASE, **params, "n_epochs": epochs}
    command = [str(venv_python(venv)), str(driver), str(seed), str(peer / "run.py"), "train.tsv",
               "-ps", parameter_string(full), "-t", *tests, "-m", *map(str, KS), "-e", "conservative", "-d", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env)
    process_s = time.perf_counter() - start
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"official GRU4Rec failed:\n{done.stderr[-4000:]}")
    epoch_s = [float(s) for s in re.findall(r"^Epoch\d+ --> loss: \S+\s+\(([\d.]+)s\)", done.stdout, re.M)]
    losses = [float(s) for s in re.findall(r"^Epoch\d+ --> loss: (\S+)", done.stdout, re.M)]
    blocks = re.findall(r"Recall@(\d+): ([\d.]+) MRR@\d+: ([\d.]+)", done.stdout)
    per_file = [blocks[i:i + len(KS)] for i in range(0, len(blocks), len(KS))]
    metrics = {name.removesuffix(".tsv"): {m: float(v) for k, r, mrr in rows for m, v in
                                           ((f"recall@{k}", r), (f"mrr@{k}", mrr))}
               for name, rows in zip(tests, per_file, strict=True)}
    shown = ["python", "official_driver.py", str(seed), "<peer>/run.py", *command[4:]]
    return {"params": full, "seed": seed, "epoch_seconds": epoch_s, "median_epoch_s": _median(epoch_s),
            "train_loss": losses, "metrics": metrics, "process_s": process_s, "command": shlex.join(shown)}


# -- the xsell side ----------------------------------------------------------------------------------------
def run_xsell(overrides: list[str], run_dir: Path, *, epochs: int, seed: int, epoch_cut_s: float) -> dict[str, Any]:
    """``python -m xsell.train`` with one thread; returns metrics.json plus the epoch timer's record."""
    timer = run_dir / "epoch_timer.json"
    command = [sys.executable, "-m", "xsell.train", *overrides, "trainer=cpu", f"trainer.max_epochs={epochs}",
               "exclude_seen=false", "optimized_metric=val/recall@20", f"module.ks=[{','.join(map(str, KS))}]",
               f"seed={seed}", "threads=1", "baseline=false", "export=false", "callbacks.progress_bar=null",
               f"hydra.run.dir={run_dir}", f"+callbacks.epoch_timer._target_={EPOCH_TIMER}",
               f"+callbacks.epoch_timer.path={timer}", f"+callbacks.epoch_timer.epoch_cut_s={epoch_cut_s}"]
    if epoch_cut_s:
        command.append("trainer.min_epochs=0")
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    process_s = time.perf_counter() - start
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "xsell.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"xsell failed:\n{done.stderr[-4000:]}")
    result = json.loads((run_dir / "metrics.json").read_text())
    epoch_s = json.loads(timer.read_text())["epoch_seconds"]
    return {"overrides": overrides, "seed": seed, "epoch_seconds": epoch_s, "median_epoch_s": _median(epoch_s),
            "metrics": {"valid": result["val"], "test": result["test"]}, "best_checkpoint": result["best_checkpoint"],
            "process_s": process_s, "run_dir": str(run_dir),
            "command": shlex.join(["python", *command[1:]]).replace(str(ROOT) + "/", "")}


def recheck_xsell_test(run_dir: Path, checkpoint: str, split: Any) -> dict[str, float]:
    """Test metrics of the run's best checkpoint recomputed from the raw test sessions of ``split`` with
    :func:`xsell.evaluation.sessions.evaluate_sessions` (the item vocabulary from the run's own data)."""
    import torch
    from omegaconf import OmegaConf

    from xsell.data.splits import TEST
    from xsell.evaluation.sessions import evaluate_sessions
    from xsell.runs import checkpoint_weights
    from xsell.training.builders import build_datamodule, build_model

    torch.set_num_threads(1)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule.prepared)
    model.load_state_dict(checkpoint_weights(checkpoint))
    model.eval()
    vocab = datamodule.prepared.item_vocab
    test_users = split.events.filter(pl.col("part") == TEST).get_column("user_id").unique()
    sessions = (split.events.filter(pl.col("user_id").is_in(test_users.implode()))
                .group_by("user_id", maintain_order=True).agg(pl.col("item_id")).get_column("item_id").to_list())
    return evaluate_sessions(model, [[vocab.index(i) for i in s] for s in sessions], KS, max_len=cfg.data.max_len)


# -- one data set ------------------------------------------------------------------------------------------
def reusable(earlier: dict[str, Any] | None, side: str, epochs: int, seed: int) -> dict[str, dict[str, Any]]:
    """Validation runs of an earlier comparison of this data set (its grid and follow-ups) with the same epochs
    and grid seed: the same measurement a rerun would make, so ``--reuse-grid`` takes them instead."""
    if not earlier or earlier.get("smoke") or earlier.get("epochs") != epochs:
        return {}
    runs = {**earlier[side].get("grid", {}), **earlier[side].get("follow_up", {})}
    return {label: run for label, run in runs.items() if run.get("seed") == seed}


def compare(name: str, args: argparse.Namespace, peer: Path, workdir: Path,
            earlier: dict[str, Any] | None = None) -> dict[str, Any]:
    from xsell.data.pipeline import prepare_split

    data, data_overrides = load_data(name, args.data_dir, workdir)
    data_overrides = [*data_overrides, "data.split=held_out_users", f"++data.held_out_fraction={HELD_OUT_FRACTION}"]
    split = prepare_split(data, split="held_out_users", held_out_fraction=HELD_OUT_FRACTION)
    sizes = write_peer_files(split, workdir)
    print(f"[{name}] split: {json.dumps(sizes)}", flush=True)
    runs = RUNS / name
    epochs = 1 if args.smoke else args.epochs
    cut = 20.0 if args.smoke else 0.0
    grid_official = {k: GRIDS["official"][k] for k in args.official_grid or GRIDS["official"]}
    grid_xsell = {k: GRIDS["xsell"][k] for k in args.xsell_grid or GRIDS["xsell"]}
    if args.smoke:
        grid_official, grid_xsell = dict([next(iter(grid_official.items()))]), dict([next(iter(grid_xsell.items()))])
    seed0 = args.seeds[0]
    reuse = {side: reusable(earlier, side, epochs, seed0) if args.reuse_grid else {} for side in ("official", "xsell")}

    official_grid = {}
    for label, params in grid_official.items():
        if label in reuse["official"]:
            official_grid[label] = reuse["official"][label]
            continue
        print(f"[{name}] official {label} (validation)", flush=True)
        official_grid[label] = run_official(params, peer=peer, venv=args.venv, workdir=workdir, tests=["valid.tsv"],
                                            seed=seed0, epochs=epochs, log=runs / "official" / f"grid_{label}.log")
        print(f"    {official_grid[label]['metrics']['valid']} epoch {official_grid[label]['median_epoch_s']:.1f}s",
              flush=True)
    xsell_grid = {}
    for label, overrides in grid_xsell.items():
        if label in reuse["xsell"]:
            xsell_grid[label] = {**reuse["xsell"][label], "metrics": {"valid": reuse["xsell"][label]["metrics"]["valid"]}}
            continue
        print(f"[{name}] xsell {label} (validation)", flush=True)
        xsell_grid[label] = run_xsell([*data_overrides, *XSELL_BASE, *overrides], runs / "xsell" / f"grid_{label}",
                                      epochs=epochs, seed=seed0, epoch_cut_s=cut)
        print(f"    {xsell_grid[label]['metrics']['valid']} epoch {xsell_grid[label]['median_epoch_s']:.1f}s",
              flush=True)
    metric = f"recall@{KS[-1]}"
    best_official = max(official_grid, key=lambda k: official_grid[k]["metrics"]["valid"][metric])
    best_xsell = max(xsell_grid, key=lambda k: xsell_grid[k]["metrics"]["valid"][metric])

    official_final, xsell_final = [], []
    for seed in args.seeds:
        print(f"[{name}] final seed {seed}: official {best_official}, xsell {best_xsell}", flush=True)
        official_final.append(run_official(grid_official[best_official], peer=peer, venv=args.venv, workdir=workdir,
                                           tests=["valid.tsv", "test.tsv"], seed=seed, epochs=epochs,
                                           log=runs / "official" / f"final_seed{seed}.log"))
        run = run_xsell([*data_overrides, *XSELL_BASE, *grid_xsell[best_xsell]], runs / "xsell" / f"final_seed{seed}",
                        epochs=epochs, seed=seed, epoch_cut_s=cut)
        run["test_recomputed"] = recheck_xsell_test(Path(run["run_dir"]), run["best_checkpoint"], split)
        xsell_final.append(run)
        print(f"    official {official_final[-1]['metrics']['test']}  xsell {run['metrics']['test']} "
              f"(recomputed {run['test_recomputed']})", flush=True)
    machine = machine_info()
    return {
        "data": name, "split": {"protocol": "held_out_users", "held_out_fraction": HELD_OUT_FRACTION, **sizes},
        "epochs": epochs, "seeds": args.seeds, "smoke": args.smoke, "dim": DIM,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": machine["load_average_at_start"], "xsell_commit": machine["xsell_commit"],
        "official": {"grid": official_grid, "chosen": best_official, "final": official_final,
                     "summary": summarise([r["metrics"]["test"] for r in official_final],
                                          [r["median_epoch_s"] for r in official_final])},
        "xsell": {"grid": xsell_grid, "chosen": best_xsell, "final": xsell_final,
                  "summary": summarise([r["metrics"]["test"] for r in xsell_final],
                                       [r["median_epoch_s"] for r in xsell_final]),
                  "follow_up": {label: run for label, run in reuse["xsell"].items()
                                if label not in xsell_grid and earlier and label in earlier["xsell"].get("follow_up", {})}},
    }


def follow_up(name: str, args: argparse.Namespace, workdir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """xsell settings tried after a comparison, on validation only (seed of the grid), to explain a gap: kept
    apart from the grid (``xsell.follow_up``), never chosen for the final runs and never read on test."""
    data, data_overrides = load_data(name, args.data_dir, workdir)
    data_overrides = [*data_overrides, "data.split=held_out_users", f"++data.held_out_fraction={HELD_OUT_FRACTION}"]
    done = record["xsell"].setdefault("follow_up", {})
    for label in args.follow_up:
        print(f"[{name}] xsell follow-up {label} (validation)", flush=True)
        run = run_xsell([*data_overrides, *XSELL_BASE, *GRIDS["xsell"][label]], RUNS / name / "xsell" / f"follow_{label}",
                        epochs=record["epochs"], seed=record["seeds"][0], epoch_cut_s=0.0)
        run["metrics"].pop("test")  # validation only
        done[label] = run
        print(f"    {run['metrics']['valid']} epoch {run['median_epoch_s']:.1f}s", flush=True)
    return record


def summarise(tests: list[dict[str, float]], epoch_s: list[float]) -> dict[str, Any]:
    """Mean and spread (sample standard deviation; 0 for one seed) of the final runs' test metrics."""
    out: dict[str, Any] = {"runs": len(tests), "median_epoch_s": _median(epoch_s)}
    for k in KS:
        for metric in (f"recall@{k}", f"mrr@{k}"):
            values = [t[metric] for t in tests]
            out[metric] = statistics.mean(values)
            out[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# -- the docs block ----------------------------------------------------------------------------------------
NOTES = [
    "Split (both sides, `xsell.data.splits.held_out_users`, fraction 0.1): sessions (Games: users) ordered by "
    "their first event; the last 10% test, the 10% before validation, every event of the rest trains. Held-out "
    "events whose item is not in training are dropped first (the official evaluation drops them too). Every "
    "next event of a held-out session is predicted from its prefix, the state starting from nothing.",
    "Evaluation (both sides): full ranking over all training items, no exclusion of items seen in the session, "
    "ties against the target (`-e conservative` on the peer, xsell's rule); Recall@20 and MRR@20 averaged over "
    "predictions. xsell's number is its training run's test metric (`exclude_seen=false`); the JSON also holds "
    "it recomputed from the raw test sessions by `xsell.evaluation.sessions.evaluate_sessions`.",
    "Models: one GRU layer of 128 units and 128-d item vectors tied to the output (the peer's constrained "
    "embedding, xsell's `output_table: tied`). The peer trains session-parallel mini-batches with truncated "
    "BPTT of one step, cross-entropy over the batch's targets plus 2048 popularity^alpha negatives with logQ "
    "correction, a per-item output bias and Adagrad; xsell trains windows of up to `max_len` events "
    "(synthetic 50, Games 200 unless the setting says `data.max_len`) with full BPTT in the window, AdamW with "
    "warm-up and cosine decay, and the loss, dropout and window its grid picked. Short windows (`_len5`, "
    "`_len10`, `_len20`) bound back-propagation through time as the peer's one-step truncation does; they also "
    "bound the history the model reads when it predicts. Epoch seconds: training only, one thread each "
    "(`OMP_NUM_THREADS=1`, xsell `threads=1`).",
    "Selection: each side's grid on validation Recall@20 (seed 0); the peer trains a fixed number of epochs "
    "(its run.py has no early stopping), xsell keeps its best validation epoch within the same maximum. The "
    "peer's weights always start from `np.random.seed(42)` (its compatibility mode); its seed (torch, set by "
    "the driver) changes the sampled negatives and dropout.",
]


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    m, v = results["machine"], results["peer_versions"]
    lines = [start, "",
             "Generated by `benchmarks/gru4rec_official.py`. The official code (research-only licence) runs "
             "unchanged as a peer; nothing of it is in xsell.", "",
             f"- Latest command: `{results['command']}`",
             f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, load average at start "
             f"{m['load_average_at_start']} (other jobs shared the two cores); date {results['date']}",
             f"- xsell {m['xsell_commit']}: Python {m['python']}, torch {m['torch']}, Lightning "
             f"{m['pytorch_lightning']}, polars {m['polars']}",
             f"- Peer {v.get('peer')} {v.get('peer_commit', '?')[:10]} ({v.get('peer_commit_date', '?')[:10]}), "
             f"venv: Python {v['python']}, torch {v['torch']}, numpy {v['numpy']}, pandas {v['pandas']}", "",
             "Test metrics: mean ± sample standard deviation over the seeds.", "",
             "| data | side | chosen setting (validation) | epochs | seeds | test Recall@20 | test MRR@20 | "
             "median epoch s |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, r in results["data"].items():
        for side, label in (("official", "official"), ("xsell", "xsell")):
            s = r[side]["summary"]
            lines.append(f"| {name} | {label} | `{r[side]['chosen']}` | {r['epochs']} | {s['runs']} | "
                         f"{_mean_spread(s, 'recall@20')} | {_mean_spread(s, 'mrr@20')} | "
                         f"{_num(s['median_epoch_s'], 1)} |")
    lines += ["", "Validation grids (seed 0; Recall@20 / MRR@20 / median epoch s):", ""]
    for name, r in results["data"].items():
        for side in ("official", "xsell"):
            cells = [f"`{label}` {g['metrics']['valid']['recall@20']:.4f} / {g['metrics']['valid']['mrr@20']:.4f} / "
                     f"{_num(g['median_epoch_s'], 1)}" for label, g in r[side]["grid"].items()]
            lines.append(f"- {name} {side}: " + "; ".join(cells))
    follow = [(name, label, g) for name, r in results["data"].items()
              for label, g in r["xsell"].get("follow_up", {}).items()]
    if follow:
        lines += ["", "xsell follow-ups (after the comparison, validation only, never chosen):", ""]
        lines += [f"- {name} `{label}`: Recall@20 {g['metrics']['valid']['recall@20']:.4f}, MRR@20 "
                  f"{g['metrics']['valid']['mrr@20']:.4f}, median epoch {_num(g['median_epoch_s'], 1)} s"
                  for name, label, g in follow]
    lines += ["", "Split sizes:", ""]
    for name, r in results["data"].items():
        sp = r["split"]
        lines.append(f"- {name}: train {sp['train']['sessions']} sessions / {sp['train']['events']} events, "
                     f"{sp['items_in_training']} items; validation {sp['valid']['sessions']} sessions, "
                     f"{sp['valid']['predictions']} predictions; test {sp['test']['sessions']} sessions, "
                     f"{sp['test']['predictions']} predictions")
    lines += ["", "Protocol notes:", ""] + [f"- {n}" for n in NOTES]
    lines += ["", "Commands of the final runs (seed 0; the peer from a temporary folder holding the TSV files):", ""]
    for name, r in results["data"].items():
        lines += [f"- {name} official: `{r['official']['final'][0]['command']}`",
                  f"- {name} xsell: `{r['xsell']['final'][0]['command']}`"]
    lines += ["", end]
    return "\n".join(lines)


def _mean_spread(summary: dict[str, Any], metric: str) -> str:
    """``mean ± std`` over the seeds, the mean alone for one seed."""
    spread = f" ± {summary[metric + '_std']:.4f}" if summary["runs"] > 1 else ""
    return f"{summary[metric]:.4f}{spread}"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", choices=["synthetic", "games"], default=["synthetic"])
    parser.add_argument("--epochs", type=int, default=10, help="the peer's n_epochs, xsell's max_epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="final runs; the grid uses the first")
    parser.add_argument("--official-grid", nargs="+", choices=list(GRIDS["official"]), default=None,
                        help="the peer's settings to try on validation (default: all)")
    parser.add_argument("--xsell-grid", nargs="+", choices=list(GRIDS["xsell"]), default=None,
                        help="xsell's settings to try on validation (default: all)")
    parser.add_argument("--follow-up", nargs="+", choices=list(GRIDS["xsell"]), default=None,
                        help="after a comparison: only these xsell settings, on validation only (kept apart)")
    parser.add_argument("--reuse-grid", action="store_true",
                        help="take grid points already measured (grid or follow-up, same epochs and seed) from the "
                             "results instead of rerunning them")
    parser.add_argument("--smoke", action="store_true", help="1 epoch, one setting a side, xsell epochs cut at 20 s")
    parser.add_argument("--peer", type=Path, default=None, help="a checkout of the official code (default: the mirror)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--setup-only", action="store_true", help="create the peer's venv and stop")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/notes/benchmarks.md")
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir.resolve()
    if not venv_python(args.venv).exists():
        setup_venv(args.venv)
    if args.setup_only:
        return 0
    results_path = args.results or (SMOKE_RESULTS if args.smoke else RESULTS)
    results = json.loads(results_path.read_text()) if results_path.exists() else {"data": {}}
    with tempfile.TemporaryDirectory(prefix="gru4rec_official_") as tmp:
        peer = args.peer.resolve() if args.peer else export_peer(Path(tmp) / "peer")
        results.update(
            command=shlex.join(["python", "benchmarks/gru4rec_official.py",
                                *(sys.argv[1:] if argv is None else argv)]),
            machine=machine_info(), peer_versions=peer_versions(args.venv, peer),
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        for name in args.data:
            workdir = Path(tmp) / name
            workdir.mkdir()
            if args.follow_up:
                results["data"][name] = follow_up(name, args, workdir, results["data"][name])
            else:
                results["data"][name] = compare(name, args, peer, workdir, results["data"].get(name))
            results_path.parent.mkdir(parents=True, exist_ok=True)
            write_results(results_path, results)
    block = render(results)
    if not (args.no_doc or args.smoke):
        update_doc(SECTION, TITLE, block)
    print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
