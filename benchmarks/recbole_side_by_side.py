"""xsell and RecBole 1.2.1 side by side: training throughput, full-ranking test time and accuracy.

    python benchmarks/recbole_side_by_side.py --setup-only            # create the RecBole venv, once
    python benchmarks/recbole_side_by_side.py                         # all tasks, 4 epochs both sides
    python benchmarks/recbole_side_by_side.py --tasks ml100k_gru4rec --time-budget 600
    python benchmarks/recbole_side_by_side.py --smoke --no-doc        # well-formed commands, ~1 min a side

For each task (ML-100K SASRec and GRU4Rec; Amazon Games SASRec with CE or one negative, GRU4Rec and BERT4Rec),
one after the other and never two processes at once:

1. RecBole runs through ``shared/peer/recbole/run.py`` unchanged, in its own virtual environment (see
   ``--setup``), on a copy of the peer config with ``epochs`` set, from a temporary directory holding the
   data (ML-100K atomic files; Games converted by the peer's ``convert.py``). A small driver counts the
   targets RecBole trains on per epoch (its augmented training rows: every prefix of every user's training
   sequence) and records the resolved RecBole config, so the xsell side is built from RecBole's own values.
2. xsell runs through ``python -m xsell.train`` with the same model size, ``max_len``, learning rate,
   optimiser (Adam, no weight decay, constant rate, no clipping), loss (CE; or, against RecBole's BPR with
   one uniform negative, the SASRec paper's BCE with one), seed, epochs and torch threads.
   RecBole batches ``train_batch_size`` targets; an xsell batch is a number of windows, each holding up to
   ``max_len`` targets, so xsell gets ``round(train_batch_size * windows / targets)`` windows per batch:
   about as many targets per optimiser step and steps per epoch as RecBole. An ``EpochTimer`` callback
   (this module, passed as a Hydra override) records per-epoch training seconds and labelled targets.
3. The xsell test pass is timed in this process: the run's ``config.yaml`` builds the data module and
   model, the best checkpoint is loaded, and ``evaluate_scorer(model.score, dm.test_dataloader())`` runs
   once cold and three times warm with the same threads. RecBole's test time is likewise the median of
   three warm passes (run.py's ``test_eval_s``, its second pass, and two more run by the driver).

Results go to ``benchmarks/results/recbole_side_by_side.json`` (tasks merged by name) and the
``recbole_side_by_side`` section of ``docs/notes/benchmarks.md`` (not with ``--smoke`` / ``--no-doc``).
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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import DEFAULT_DATA_DIR, ROOT, machine_info, markers, update_doc, write_results  # noqa: E402

if TYPE_CHECKING:
    from omegaconf import DictConfig

SECTION = "recbole_side_by_side"
TITLE = "## xsell vs RecBole 1.2.1, side by side (issue 3)"
RESULTS = ROOT / "benchmarks" / "results" / "recbole_side_by_side.json"
SMOKE_RESULTS = ROOT / "benchmarks" / "results" / "recbole_side_by_side_smoke.json"
RUNS = ROOT / "benchmarks" / "runs" / "recbole_side_by_side"
PEER = ROOT.parent / "shared" / "peer" / "recbole"
OWN_RECBOLE_CONFIGS = ROOT / "benchmarks" / "recbole_configs"  # RecBole configs the peer folder lacks
DEFAULT_VENV = ROOT.parent / ".venvs" / "recbole"
RECBOLE_VERSION = "1.2.1"
# After recbole itself, as shared/peer/recbole/README.md lists them.
RECBOLE_EXTRAS = ["numpy<2", "pandas<2.3", "scipy<1.14", "pyarrow==17", "scikit-learn", "tqdm", "ray[tune]"]
SMOKE_SECONDS = 20.0
# The callback as xsell.train (cwd = project root) imports it: benchmarks/ is a namespace package there.
EPOCH_TIMER = "benchmarks.recbole_side_by_side.EpochTimer"


@dataclass(frozen=True)
class Task:
    """One comparison: a RecBole model + peer config, and the xsell data/model groups that mirror it."""

    recbole_model: str  # SASRec | GRU4Rec | BERT4Rec
    recbole_dataset: str  # the atomic dataset name RecBole reads under data_path
    recbole_config: str  # file in shared/peer/recbole/configs, else in benchmarks/recbole_configs
    xsell_data: str  # xsell data config group
    xsell_model: str  # xsell model config group
    data_path: str  # relative to the shared data folder
    xsell_loss: str = "ce"  # xsell loss config group: ce mirrors RecBole's CE; bce faces its one-negative BPR

    @property
    def recbole_config_path(self) -> Path:
        peer = PEER / "configs" / self.recbole_config
        return peer if peer.exists() else OWN_RECBOLE_CONFIGS / self.recbole_config

    @property
    def counts_targets(self) -> bool:
        """Whether both sides' training examples are next-item targets (causal models), so that targets/s
        compare. BERT4Rec's are not: RecBole trains masked copies of every prefix of a sequence, xsell
        masked windows; the two count different things, so only accuracy and test time are compared."""
        return self.recbole_model != "BERT4Rec"


TASKS: dict[str, Task] = {
    "ml100k_sasrec": Task("SASRec", "ml-100k", "sasrec_ml100k.yaml", "atomic", "sasrec", "ml-100k"),
    "ml100k_gru4rec": Task("GRU4Rec", "ml-100k", "gru4rec_ml100k.yaml", "atomic", "gru4rec", "ml-100k"),
    "games_sasrec": Task("SASRec", "amazon-games", "sasrec_games.yaml", "sasrec_txt", "sasrec",
                         "amazon-games/Video.txt"),
    # The peer's GRU4Rec config names no data set (RecBole's GRU4Rec defaults, CE, max length 50).
    "games_gru4rec": Task("GRU4Rec", "amazon-games", "gru4rec_ml100k.yaml", "sasrec_txt", "gru4rec",
                          "amazon-games/Video.txt"),
    # RecBole's BERT4Rec defaults with the Games data and optimiser settings of the peer's SASRec config.
    "games_bert4rec": Task("BERT4Rec", "amazon-games", "bert4rec_games.yaml", "sasrec_txt", "bert4rec",
                           "amazon-games/Video.txt"),
    # RecBole's SASRec has no BCE loss; its one-uniform-negative loss is BPR. xsell trains the SASRec paper's
    # BCE with one uniform negative against it: the same negatives per target, a different loss.
    "games_sasrec_bce": Task("SASRec", "amazon-games", "sasrec_bpr_games.yaml", "sasrec_txt", "sasrec",
                             "amazon-games/Video.txt", xsell_loss="bce"),
}

# RecBole config values the driver records (model keys absent from a model's config read as None).
RECBOLE_KEYS = [
    "seed", "epochs", "train_batch_size", "eval_batch_size", "learner", "learning_rate", "weight_decay",
    "clip_grad_norm", "loss_type", "stopping_step", "MAX_ITEM_LIST_LENGTH", "eval_args", "topk",
    "valid_metric", "hidden_size", "inner_size", "n_layers", "n_heads", "hidden_dropout_prob",
    "attn_dropout_prob", "hidden_act", "layer_norm_eps", "initializer_range", "embedding_size",
    "num_layers", "dropout_prob", "mask_ratio", "ft_ratio", "transform", "train_neg_sample_args",
]

# Runs inside the RecBole venv: shared/peer/recbole/run.py unchanged, with data_preparation wrapped so that
# the training loader counts the targets of every epoch (and, for smoke runs only, ends an epoch early).
DRIVER = '''\
"""Run shared/peer/recbole/run.py, counting training targets per epoch; args: RUN_PY CUT_S RUN_PY_ARGS..."""
import json, runpy, sys, time
import recbole.data

KEYS = @KEYS@
run_py, cut, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
out = argv[argv.index("--out") + 1]
extra = {"epoch_targets": [], "epoch_cut_s": cut or None}
original = recbole.data.data_preparation


def plain(value):
    return value if isinstance(value, (int, float, str, bool, type(None), list, dict)) else str(value)


def data_preparation(config, dataset):
    train, valid, test = original(config, dataset)
    extra["train_targets_per_epoch"] = len(train._dataset)
    extra["valid_targets"] = len(valid._dataset)
    extra["test_targets"] = len(test._dataset)
    extra["item_num_incl_padding"] = int(dataset.item_num)
    extra["user_num_incl_padding"] = int(dataset.user_num)
    extra["recbole_config"] = {k: plain(config[k]) for k in KEYS}

    class CountedLoader(type(train)):
        def __iter__(self):
            start, n = time.time(), 0
            for batch in super().__iter__():
                yield batch
                n += len(batch)
                if cut and time.time() - start > cut:
                    break
            extra["epoch_targets"].append(n)

    train.__class__ = CountedLoader
    return train, valid, test


recbole.data.data_preparation = data_preparation
sys.argv = [run_py, *argv]
g = runpy.run_path(run_py, run_name="__main__")
with open(out) as f:
    result = json.load(f)
# Two more warm test passes, as run.py's own second one (best model in memory), for a median of three.
passes = [result["test_eval_s"]]
for _ in range(2):
    start = time.time()
    g["trainer"].evaluate(g["test_data"], load_best_model=False, show_progress=False)
    passes.append(time.time() - start)
extra["test_eval_s_passes"] = passes
result.update(extra)
with open(out, "w") as f:
    json.dump(result, f, indent=1)
'''


class EpochTimer(pl.Callback):
    """Per-epoch training seconds (validation excluded) and labelled targets, written to ``path`` as JSON.

    Passed to ``xsell.train`` as a Hydra override (``+callbacks.epoch_timer._target_=...``), so xsell
    itself is unchanged. ``budget_s`` stops training after the epoch during which the budget ran out
    (RecBole's ``--time_budget`` semantics, validation time included); ``epoch_cut_s`` ends an epoch early
    (smoke runs only).

    Args:
        path: JSON file to write after every epoch.
        budget_s: wall seconds since the start of fit after which no new epoch starts (0: none).
        epoch_cut_s: wall seconds after which an epoch stops taking batches (0: none).
    """

    def __init__(self, path: str, budget_s: float = 0.0, epoch_cut_s: float = 0.0) -> None:
        self.path = Path(path)
        self.budget_s = budget_s
        self.epoch_cut_s = epoch_cut_s
        self.epoch_seconds: list[float] = []
        self.epoch_targets: list[int] = []
        self.validation_seconds: list[float] = []
        self.stopped_by_time = False
        self._fit_start = self._epoch_start = self._validation_start = 0.0
        self._epoch_validation = 0.0
        self._targets = 0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_validation = 0.0
        self._targets = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._targets += int((batch.labels > 0).sum())
        if self.epoch_cut_s and time.perf_counter() - self._epoch_start > self.epoch_cut_s:
            trainer.should_stop = True

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seconds = time.perf_counter() - self._validation_start
        self._epoch_validation += seconds
        self.validation_seconds.append(seconds)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        now = time.perf_counter()
        self.epoch_seconds.append(now - self._epoch_start - self._epoch_validation)
        self.epoch_targets.append(self._targets)
        if self.budget_s and now - self._fit_start > self.budget_s and not trainer.should_stop:
            trainer.should_stop = True
            self.stopped_by_time = True
        self.path.write_text(json.dumps({
            "epoch_seconds": self.epoch_seconds, "epoch_targets": self.epoch_targets,
            "validation_seconds": self.validation_seconds, "stopped_by_time": self.stopped_by_time,
        }, indent=1))


# -- the RecBole virtual environment ---------------------------------------------------------------------
def venv_python(venv: Path) -> Path:
    """The venv's interpreter."""
    return venv / "bin" / "python"


def _run(command: list[str], **options: Any) -> subprocess.CompletedProcess:
    print("+", shlex.join(command), flush=True)
    return subprocess.run(command, check=True, **options)


def setup_venv(venv: Path) -> list[str]:
    """Create the RecBole venv as shared/peer/recbole/README.md says, patch recbole, return patched files.

    python3 -m venv; pip install torch==2.13.0 (the local CPU wheel, via pip's find-links); pip install -c
    constraints.txt recbole==1.2.1; then the pinned extras; then the documented source patches.
    """
    constraints = str(PEER / "constraints.txt")
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--progress-bar", "off", "-c", constraints]
    _run([*pip, "torch==2.13.0"])
    _run([*pip, f"recbole=={RECBOLE_VERSION}"])
    _run([*pip, *RECBOLE_EXTRAS])
    return patch_recbole(venv)


def recbole_package_dir(venv: Path) -> Path:
    """Where recbole is installed in the venv (found without importing it)."""
    done = subprocess.run(
        [str(venv_python(venv)), "-c",
         "import importlib.util; print(importlib.util.find_spec('recbole').submodule_search_locations[0])"],
        check=True, capture_output=True, text=True,
    )
    return Path(done.stdout.strip())


def patch_recbole(venv: Path) -> list[str]:
    """``torch.load(..., weights_only=False)`` in the trainer and quick_start (torch >= 2.6 defaults to
    ``weights_only=True``, which cannot load RecBole's checkpoints), and uses of ``np.float`` / ``np.bool``
    -> ``np.float64`` / ``np.bool_`` (removed from numpy 1.24; RecBole's own compatibility shim that
    re-creates them is left alone, so this is belt and braces). Idempotent."""
    package = recbole_package_dir(venv)
    patched = []
    for path in sorted(package.rglob("*.py")):
        text = original = path.read_text()
        if path.name in ("trainer.py", "quick_start.py"):
            text = re.sub(r"torch\.load\(((?:(?!weights_only)[^()])*)\)",
                          r"torch.load(\1, weights_only=False)", text)
        # Uses only, not RecBole's own shim (``np.float = np.float_`` in its configurator).
        text = re.sub(r"\bnp\.float\b(?!_)(?!\s*=[^=])", "np.float64", text)
        text = re.sub(r"\bnp\.bool\b(?!_)(?!\s*=[^=])", "np.bool_", text)
        if text != original:
            path.write_text(text)
            patched.append(str(path.relative_to(package.parent)))
    return patched


def recbole_versions(venv: Path) -> dict[str, str]:
    """Versions inside the venv; raises when ``import recbole`` fails."""
    code = ("import json, platform, recbole, torch, numpy, pandas, scipy; print(json.dumps({'recbole': "
            "recbole.__version__, 'python': platform.python_version(), 'torch': torch.__version__, "
            "'numpy': numpy.__version__, 'pandas': pandas.__version__, 'scipy': scipy.__version__}))")
    done = subprocess.run([str(venv_python(venv)), "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"import recbole fails in {venv}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- one side each -----------------------------------------------------------------------------------------
def prepare_recbole_dir(task: Task, workdir: Path, data_dir: Path) -> None:
    """``workdir/data/<dataset>/<dataset>.inter`` as run.py's ``data_path: ./data`` expects."""
    target = workdir / "data" / task.recbole_dataset
    target.mkdir(parents=True, exist_ok=True)
    inter = target / f"{task.recbole_dataset}.inter"
    if inter.exists():
        return
    if task.recbole_dataset == "ml-100k":
        for source in sorted((data_dir / "ml-100k").iterdir()):
            (target / source.name).symlink_to(source)
    else:  # the SASRec "user item" file: timestamp = position in the user's sequence
        _run([sys.executable, str(PEER / "convert.py"), str(data_dir / task.data_path), str(inter)],
             capture_output=True)


def run_recbole(name: str, task: Task, venv: Path, workdir: Path, run_dir: Path, *, epochs: int,
                budget_s: float, threads: int, epoch_cut_s: float) -> dict[str, Any]:
    """Train and test with run.py in the venv (cwd ``workdir``); returns run.py's JSON plus the driver's
    counts. The generated config, RecBole's output and the driver are kept in ``run_dir``."""
    import yaml

    config = yaml.safe_load(task.recbole_config_path.read_text())
    config["epochs"] = epochs
    config["checkpoint_dir"] = f"./saved/{name}"
    config_path = workdir / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    driver = workdir / "recbole_driver.py"
    driver.write_text(DRIVER.replace("@KEYS@", json.dumps(RECBOLE_KEYS)))
    out = workdir / f"{name}.json"
    command = [str(venv_python(venv)), driver.name, str(PEER / "run.py"), str(epoch_cut_s),
               "--model", task.recbole_model, "--dataset", task.recbole_dataset, "--config", config_path.name,
               "--threads", str(threads), "--out", out.name]
    if budget_s:
        command += ["--time_budget", str(budget_s)]
    shutil.rmtree(run_dir, ignore_errors=True)  # no stale files from an earlier run
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    process_s = time.perf_counter() - start
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recbole.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"RecBole {task.recbole_model} failed:\n{done.stderr[-4000:]}")
    result = json.loads(out.read_text())
    shutil.copy(config_path, run_dir / config_path.name)
    shutil.copy(driver, run_dir / driver.name)
    result["process_s"] = process_s
    result["command"] = shlex.join([f"{venv}/bin/python", driver.name, "../shared/peer/recbole/run.py",
                                    *command[3:]])
    return result


def xsell_overrides(task: Task, rb: dict[str, Any], *, data_dir: Path, batch_windows: int, epochs: int,
                    threads: int) -> list[str]:
    """Hydra overrides that mirror a RecBole run's resolved config (``rb``) on the xsell side."""
    negatives = rb.get("train_neg_sample_args") or {}
    one_uniform_negative = negatives.get("distribution") == "uniform" and negatives.get("sample_num") == 1
    losses = {("CE", "ce"): ["loss=ce"], ("BPR", "bce"): ["loss=bce", "loss.num_negatives=1"]}
    loss = losses.get((rb["loss_type"], task.xsell_loss))
    if rb["learner"].lower() != "adam" or rb.get("weight_decay") or loss is None or (
            rb["loss_type"] == "BPR" and not one_uniform_negative):
        raise ValueError(f"only Adam without weight decay, with CE, or BPR with one uniform negative (against "
                         f"xsell's BCE), is mirrored; got {rb} for xsell loss {task.xsell_loss}")
    common = [
        f"data={task.xsell_data}", f"data.path={data_dir / task.data_path}", "data.catalog_items=true",
        f"model={task.xsell_model}",
        *loss, "trainer=cpu", f"data.max_len={rb['MAX_ITEM_LIST_LENGTH']}",
        f"data.batch_size={batch_windows}", f"data.eval_batch_size={rb['eval_batch_size']}",
        f"module.optimizer.lr={rb['learning_rate']}", "module.optimizer.weight_decay=0.0",
        "module.warmup_fraction=null", f"trainer.gradient_clip_val={rb.get('clip_grad_norm') or 'null'}",
        f"trainer.max_epochs={epochs}", f"callbacks.early_stopping.patience={rb['stopping_step']}",
        "callbacks.progress_bar=null", f"seed={rb['seed']}", f"threads={threads}", "baseline=false",
    ]
    if task.xsell_model in ("sasrec", "bert4rec"):
        if rb["inner_size"] % rb["hidden_size"] or rb["hidden_dropout_prob"] != rb["attn_dropout_prob"]:
            raise ValueError("xsell's transformers have a feed-forward width k x D and one dropout rate")
        model = [f"model.dim={rb['hidden_size']}", f"model.layers={rb['n_layers']}",
                 f"model.heads={rb['n_heads']}", f"model.dropout={rb['hidden_dropout_prob']}",
                 "model.layout=post_ln", f"model.init_std={rb['initializer_range']}",
                 f"model.ffn_mult={rb['inner_size'] // rb['hidden_size']}", f"model.activation={rb['hidden_act']}"]
        if task.xsell_model == "bert4rec":
            model += [f"++data.mask_prob={rb['mask_ratio']}", f"++data.mask_last_prob={rb['ft_ratio'] or 0.0}",
                      "++data.cloze_copies=1"]  # each window masked once per epoch, as the recorded runs
    else:
        model = [f"model.dim={rb['embedding_size']}", f"model.hidden={rb['hidden_size']}",
                 f"model.layers={rb['num_layers']}", f"model.dropout={rb['dropout_prob']}",
                 "model.hidden_dropout=0.0"]
    return common + model


def compose(overrides: list[str]) -> DictConfig:
    """The xsell training config for ``overrides`` (as ``python -m xsell.train`` would compose it)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from xsell.training.builders import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def window_statistics(overrides: list[str]) -> dict[str, int]:
    """Training windows and labelled targets per epoch of the xsell data module these overrides build."""
    from xsell.training.builders import build_datamodule

    datamodule = build_datamodule(compose(overrides))
    labels = (datamodule.train_set.lengths - 1).clamp(min=0)  # a window's first item has no label
    summary = datamodule.prepared.summary()
    return {"windows": int((labels > 0).sum()), "targets": int(labels.sum()),
            "training_events": summary["training_events"], "test_targets": summary["test_targets"],
            "item_vocabulary": summary["item_vocabulary"]}


def run_xsell(overrides: list[str], run_dir: Path, *, budget_s: float, epoch_cut_s: float) -> dict[str, Any]:
    """Train with ``python -m xsell.train`` and return its metrics.json plus the epoch timer's record."""
    timer = run_dir / "epoch_timer.json"
    command = [sys.executable, "-m", "xsell.train", *overrides, f"hydra.run.dir={run_dir}",
               f"+callbacks.epoch_timer._target_={EPOCH_TIMER}",
               f"+callbacks.epoch_timer.path={timer}", f"+callbacks.epoch_timer.budget_s={budget_s}",
               f"+callbacks.epoch_timer.epoch_cut_s={epoch_cut_s}"]
    if epoch_cut_s:
        command.append("trainer.min_epochs=0")  # let a cut epoch end training
    shutil.rmtree(run_dir, ignore_errors=True)  # no stale checkpoints or metrics from an earlier run
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    process_s = time.perf_counter() - start
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "xsell.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"xsell failed:\n{done.stderr[-4000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["epoch_timer"] = json.loads(timer.read_text())
    metrics["process_s"] = process_s
    metrics["command"] = shlex.join(["python", *command[1:]]).replace(str(ROOT) + "/", "")
    return metrics


def time_xsell_test(run_dir: Path, checkpoint: str, threads: int) -> dict[str, Any]:
    """Load the run's best checkpoint and time four full-ranking test passes: one cold, three warm."""
    import torch
    from omegaconf import OmegaConf

    from xsell.evaluation.protocol import evaluate_scorer
    from xsell.runs import checkpoint_weights
    from xsell.training.builders import build_datamodule, build_model

    torch.set_num_threads(threads)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule.prepared)
    model.load_state_dict(checkpoint_weights(checkpoint))
    model.eval()
    seconds, metrics = [], {}
    for _ in range(4):
        start = time.perf_counter()
        metrics = evaluate_scorer(model.score, datamodule.test_dataloader(), ks=tuple(cfg.module.ks))
        seconds.append(time.perf_counter() - start)
    return {"test_eval_s": statistics.median(seconds[1:]), "test_eval_s_passes": seconds[1:],
            "test_eval_s_cold": seconds[0], "metrics": metrics, "threads": torch.get_num_threads()}


# -- the comparison ------------------------------------------------------------------------------------------
def summarise(epoch_seconds: list[float], epoch_targets: list[int], targets_per_epoch: int,
              batch_targets: float, steps: int) -> dict[str, Any]:
    """Throughput numbers shared by both sides."""
    seconds = sum(epoch_seconds)
    return {
        "epochs": len(epoch_seconds),
        "targets_per_epoch": targets_per_epoch,
        "targets_trained": sum(epoch_targets),
        "batch_targets": batch_targets,
        "steps_per_epoch": steps,
        "median_epoch_s": statistics.median(epoch_seconds) if epoch_seconds else None,
        "train_s": seconds,
        "targets_per_s": sum(epoch_targets) / seconds if seconds else None,
    }


def compare(name: str, task: Task, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Run RecBole then xsell for one task and return both records and the ratios."""
    import math

    run_root = RUNS / name
    budget = SMOKE_SECONDS if args.smoke else args.time_budget
    epochs = 1 if args.smoke else (args.epochs if not budget else args.max_epochs)
    cut = SMOKE_SECONDS if args.smoke else (budget if args.cut_at_budget else 0.0)
    prepare_recbole_dir(task, workdir, args.data_dir)
    print(f"[{name}] RecBole {task.recbole_model}: epochs {epochs}, budget {budget or '-'} s", flush=True)
    rb = run_recbole(name, task, args.recbole_venv, workdir, run_root / "recbole", epochs=epochs, budget_s=budget,
                     threads=args.threads, epoch_cut_s=cut)
    rb_cfg = rb["recbole_config"]
    rb_batch = rb_cfg["train_batch_size"]
    recbole = {
        **summarise(rb["epoch_times"], rb["epoch_targets"], rb["train_targets_per_epoch"], rb_batch,
                    math.ceil(rb["train_targets_per_epoch"] / rb_batch)),
        "test_eval_s": statistics.median(rb["test_eval_s_passes"]), "test_eval_s_passes": rb["test_eval_s_passes"],
        "test_eval_s_incl_ckpt_load": rb["test_eval_s_incl_ckpt_load"],
        "mean_valid_eval_s": rb["mean_valid_eval_s"], "data_prep_s": rb["data_prep_s"],
        "test": rb["test_result"], "valid": rb["best_valid_result"], "peak_memory_mb": rb["maxrss_mb"],
        "test_targets": rb["test_targets"], "item_num_incl_padding": rb["item_num_incl_padding"],
        "threads": rb["threads"], "stopped_by_time": rb["stopped_by_time"], "epoch_cut_s": rb["epoch_cut_s"],
        "process_s": rb["process_s"], "config": rb_cfg, "command": rb["command"],
    }

    probe = xsell_overrides(task, rb_cfg, data_dir=args.data_dir, batch_windows=1, epochs=epochs,
                            threads=args.threads)
    windows = window_statistics(probe)
    batch_windows = max(1, round(rb_batch * windows["windows"] / windows["targets"]))
    overrides = xsell_overrides(task, rb_cfg, data_dir=args.data_dir, batch_windows=batch_windows,
                                epochs=epochs, threads=args.threads) + list(args.xsell_override)
    print(f"[{name}] xsell: {batch_windows} windows per batch (~{rb_batch} targets)", flush=True)
    xs = run_xsell(overrides, run_root / "xsell", budget_s=budget, epoch_cut_s=cut)
    checkpoint = xs["best_checkpoint"] or str(run_root / "xsell" / "checkpoints" / "last.ckpt")
    test_timing = time_xsell_test(run_root / "xsell", checkpoint, args.threads)
    timer = xs["epoch_timer"]
    xsell = {
        **summarise(timer["epoch_seconds"], timer["epoch_targets"], windows["targets"],
                    batch_windows * windows["targets"] / windows["windows"],
                    math.ceil(windows["windows"] / batch_windows)),
        "batch_windows": batch_windows, "windows_per_epoch": windows["windows"],
        "test_eval_s": test_timing["test_eval_s"], "test_eval_s_passes": test_timing["test_eval_s_passes"],
        "test_eval_s_cold": test_timing["test_eval_s_cold"],
        "mean_valid_eval_s": statistics.mean(timer["validation_seconds"]) if timer["validation_seconds"] else None,
        "test": xs["test"], "valid": xs["val"],
        "test_recomputed_max_abs_diff": max(abs(v - xs["test"][k]) for k, v in test_timing["metrics"].items()),
        "peak_memory_mb": xs["peak_memory_mb"], "test_targets": windows["test_targets"],
        "item_vocabulary": windows["item_vocabulary"], "training_events": windows["training_events"],
        "num_parameters": xs["num_parameters"], "threads": test_timing["threads"],
        "stopped_by_time": timer["stopped_by_time"], "process_s": xs["process_s"], "command": xs["command"],
    }
    machine = machine_info()
    return {
        "task": name, "model": task.recbole_model, "dataset": task.recbole_dataset,
        "settings": {"epochs": epochs, "time_budget_s": budget or None, "threads": args.threads,
                     "smoke": args.smoke, "epoch_cut_s": cut or None},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": machine["load_average_at_start"], "xsell_commit": machine["xsell_commit"],
        "recbole": recbole, "xsell": xsell, "targets_comparable": task.counts_targets,
        "ratios": {
            "throughput_xsell_over_recbole": (_ratio(xsell["targets_per_s"], recbole["targets_per_s"])
                                              if task.counts_targets else None),
            "test_eval_speedup_recbole_s_over_xsell_s": _ratio(recbole["test_eval_s"], xsell["test_eval_s"]),
            "peak_memory_xsell_over_recbole": _ratio(xsell["peak_memory_mb"], recbole["peak_memory_mb"]),
        },
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


NOTES = [
    "Split: both leave-one-out (last event = test target, second-last = validation target, the rest "
    "train) and full ranking over the whole catalogue without excluding history items; best-validation "
    "NDCG@10 checkpoint evaluated once on test. Order within a user: RecBole sorts by timestamp "
    "(`eval_args.order: TO`); xsell sorts by timestamp with a stable sort, ties kept in source order. "
    "ML-100K has same-second ties, so a few users' held-out items can differ; Games timestamps are line "
    "positions (peer `convert.py`), so none do. Users with fewer than 3 events have no test target in "
    "either (target counts are in the JSON).",
    "Training examples: RecBole materialises every prefix of every user's training sequence (up to "
    "`MAX_ITEM_LIST_LENGTH` items) as one row and runs one forward pass per target; xsell cuts each user's "
    "training events into windows of `max_len + 1` and trains every position of a window in one causal "
    "pass, so a target early in a window sees fewer than `max_len` history items. Both train each target "
    "exactly once per epoch (targets/epoch in the table; targets/s = trained targets / training seconds).",
    "Batch: RecBole's `train_batch_size` counts targets; xsell gets round(train_batch_size x windows / "
    "targets) windows per batch, i.e. about as many targets per optimiser step and steps per epoch.",
    "Optimisation: both Adam (xsell: AdamW with weight decay 0), the peer's learning rate, constant rate "
    "(xsell `module.warmup_fraction=null`), no gradient clipping (`trainer.gradient_clip_val=null`), "
    "full-catalogue cross-entropy (one-negative losses for `games_sasrec_bce`, below), the peer seed, torch "
    "threads as listed, evaluation batch = RecBole's `eval_batch_size` (xsell then scores each batch in "
    "slices of 128 rows, `SCORE_ROWS`: same metrics, a [128, N] score matrix instead of a [4096, N] one).",
    "Models: RecBole's defaults, mirrored. SASRec: both 64-d, 2 layers, 2 heads, 256-wide GELU "
    "feed-forward, dropout 0.5, output tied to the item table. RecBole is post-LN (LayerNorm on the "
    "embedded input and after each sub-layer), with unscaled item embeddings and N(0, 0.02) "
    "initialisation; xsell mirrors that with `model.layout=post_ln model.init_std=0.02` (its default "
    "is pre-LN). Positions: RecBole counts from the sequence start (right padding), xsell back from the "
    "most recent event (left padding). GRU4Rec: 64-d "
    "embeddings with dropout 0.3, one 128-unit GRU layer, a dense layer back to 64-d, tied output, on "
    "both sides. Both index every item of the data set (xsell `data.catalog_items=true`), so both rank the same catalogue.",
    "BERT4Rec: RecBole's defaults (2 layers, 2 heads, 64-d, 256-wide GELU feed-forward, dropout 0.2, mask "
    "ratio 0.2, N(0, 0.02), post-LN, half the training samples hiding only the last item: RecBole's `ft_ratio` "
    "0.5, drawn per batch, xsell's `data.mask_last_prob=0.5`, drawn per window) mirrored in xsell "
    "(`model.layout=post_ln model.init_std=0.02 data.mask_prob=0.2 data.mask_last_prob=0.5`); the RecBole config is `benchmarks/recbole_configs/bert4rec_games.yaml` (the peer "
    "folder has none): the peer's Games data, split, optimiser and evaluation settings plus those defaults. "
    "Training examples differ in kind (RecBole masks a copy of every prefix of a user's sequence, xsell masks "
    "windows once per epoch), so targets/s is not compared (`-`); the budget is equal wall time.",
    "SASRec with one negative (`games_sasrec_bce`): RecBole 1.2.1's SASRec offers only CE and BPR, so its "
    "one-negative run is BPR with one uniform negative per target (`train_neg_sample_args` uniform, 1; config "
    "`benchmarks/recbole_configs/sasrec_bpr_games.yaml`: the peer's Games config with that loss) and xsell's "
    "is the SASRec paper's BCE with one uniform negative per target (`loss=bce loss.num_negatives=1`): the "
    "same model, data, batch and negatives per target, a different loss on them.",
    "Timing: epoch seconds are training batches only (RecBole `_train_epoch`; xsell epoch minus "
    "validation). Test eval seconds: median of three warm full-ranking test passes with the best model in "
    "memory and the same threads: RecBole's `trainer.evaluate` (run.py's second pass and two more by the "
    "driver); xsell's `evaluate_scorer(model.score, test_dataloader())` after loading the best checkpoint "
    "and one cold pass; both include batching. Peak memory is each process's max RSS. "
    "A time budget stops each side after the epoch during which it ran out (validation time counted), as "
    "run.py's `--time_budget` does. Runs are sequential, never two at once.",
]


def render(results: dict[str, Any]) -> str:
    """The markdown block: two rows per task (RecBole, xsell) and the ratios."""
    start, end = markers(SECTION)
    m, v = results["machine"], results["recbole_versions"]
    lines = [
        start, "",
        "Same model size, sequence length, batch size (in targets), learning rate, epochs and torch threads "
        "on both sides; full-ranking leave-one-out test metrics. Generated by "
        "`benchmarks/recbole_side_by_side.py`.", "",
        f"- Latest command: `{results['command']}` (tasks of earlier runs are kept; see *measured*)",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, load average at start "
        f"{m['load_average_at_start']}; date {results['date']}",
        f"- xsell {m['xsell_commit']}{' (uncommitted changes)' if m['xsell_modified'] else ''}: Python "
        f"{m['python']}, torch {m['torch']}, Lightning {m['pytorch_lightning']}, polars {m['polars']}, "
        f"numpy {m['numpy']}",
        f"- RecBole {v['recbole']} (venv, `shared/peer/recbole/run.py`): Python {v['python']}, torch "
        f"{v['torch']}, numpy {v['numpy']}, pandas {v['pandas']}, scipy {v['scipy']}", "",
        "| task | side | epochs | threads | batch (targets) | steps/epoch | targets/epoch | median epoch s | "
        "targets/s | test eval s | test NDCG@10 | test Recall@10 | test MRR@10 | peak MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["tasks"].items():
        for side in ("recbole", "xsell"):
            s = r[side]
            batch = f"{s['batch_targets']:.0f}" + (f" ({s['batch_windows']} windows)" if side == "xsell" else "")
            lines.append(
                f"| {name} | {'RecBole' if side == 'recbole' else 'xsell'} | {s['epochs']} | {s['threads']} | "
                f"{batch} | {s['steps_per_epoch']} | {s['targets_per_epoch']} | {_num(s['median_epoch_s'], 1)} | "
                f"{_num(s['targets_per_s'] if r.get('targets_comparable', True) else None, 0)} | "
                f"{_num(s['test_eval_s'], 2)} | {s['test'].get('ndcg@10', 0):.4f} | "
                f"{s['test'].get('recall@10', 0):.4f} | {s['test'].get('mrr@10', 0):.4f} | "
                f"{s['peak_memory_mb']:.0f} |"
            )
    lines += ["", "| task | throughput xsell / RecBole | test eval speed-up (RecBole s / xsell s) | "
              "peak memory xsell / RecBole | measured (xsell commit) |", "|---|---:|---:|---:|---|"]
    for name, r in results["tasks"].items():
        q = r["ratios"]
        throughput = q['throughput_xsell_over_recbole']
        lines.append(f"| {name} | {_num(throughput, 1) + ('x' if throughput else '')} | "
                     f"{_num(q['test_eval_speedup_recbole_s_over_xsell_s'], 1)}x | "
                     f"{_num(q['peak_memory_xsell_over_recbole'], 2)} | {r['date'][:16]} "
                     f"({r.get('xsell_commit', '-')}) |")
    lines += ["", "Commands (per task; RecBole runs from a temporary directory holding `data/<dataset>/` and the "
              "generated config, both kept with its log in `benchmarks/runs/recbole_side_by_side/<task>/recbole/`):",
              ""]
    for name, r in results["tasks"].items():
        lines += [f"- {name} RecBole: `{r['recbole']['command']}`", f"- {name} xsell: `{r['xsell']['command']}`"]
    lines += ["", "Protocol notes:", ""] + [f"- {n}" for n in NOTES] + ["", end]
    return "\n".join(lines)


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=None,
                        help="default: all (with --smoke: ml100k_sasrec)")
    parser.add_argument("--epochs", type=int, default=4,
                        help="training epochs on both sides (4: as many as the peer's time-capped SASRec runs)")
    parser.add_argument("--time-budget", type=float, default=0.0,
                        help="seconds of fit per side instead of --epochs (stop after the epoch that crosses it)")
    parser.add_argument("--max-epochs", type=int, default=200, help="epoch cap under --time-budget")
    parser.add_argument("--cut-at-budget", action="store_true",
                        help="with --time-budget: end an epoch that is still running when the budget runs out "
                             "(exactly equal training time when one side's epoch is longer than the budget)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    parser.add_argument("--smoke", action="store_true",
                        help=f"1 epoch cut at {SMOKE_SECONDS:.0f} s a side: checks the commands, not the numbers")
    parser.add_argument("--recbole-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--setup", action="store_true", help="create the RecBole venv when it is missing")
    parser.add_argument("--setup-only", action="store_true", help="create/verify the venv and stop")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--xsell-override", nargs="*", default=[], help="extra Hydra overrides for xsell")
    parser.add_argument("--results", type=Path, default=None,
                        help=f"JSON file (default {RESULTS.relative_to(ROOT)}; smoke: {SMOKE_RESULTS.name})")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/notes/benchmarks.md")
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir.resolve()

    if not venv_python(args.recbole_venv).exists():
        if not (args.setup or args.setup_only):
            parser.error(f"no RecBole venv at {args.recbole_venv}: run with --setup-only first")
        patched = setup_venv(args.recbole_venv)
        print("patched:", *patched, sep="\n  ")
    elif args.setup or args.setup_only:
        patched = patch_recbole(args.recbole_venv)
        print("venv exists; newly patched:", patched or "nothing")
    versions = recbole_versions(args.recbole_venv)
    print("RecBole venv:", json.dumps(versions), flush=True)
    if args.setup_only:
        return 0

    results_path = args.results or (SMOKE_RESULTS if args.smoke else RESULTS)
    results = json.loads(results_path.read_text()) if results_path.exists() else {"tasks": {}}
    results.update(
        command=shlex.join(["python", "benchmarks/recbole_side_by_side.py", *(sys.argv[1:] if argv is None else argv)]),
        machine=machine_info(), recbole_versions=versions,
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    names = args.tasks or (["ml100k_sasrec"] if args.smoke else list(TASKS))
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    with tempfile.TemporaryDirectory(prefix="recbole_side_by_side_") as tmp:
        for name in names:
            record = compare(name, TASKS[name], args, Path(tmp))
            results["tasks"][name] = record
            results_path.parent.mkdir(parents=True, exist_ok=True)
            write_results(results_path, results)
            q = record["ratios"]
            print(f"[{name}] xsell/RecBole throughput {_num(q['throughput_xsell_over_recbole'], 2)}x, test eval "
                  f"speed-up {_num(q['test_eval_speedup_recbole_s_over_xsell_s'], 2)}x", flush=True)
    block = render(results)
    if not (args.no_doc or args.smoke):
        update_doc(SECTION, TITLE, block)
    print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
