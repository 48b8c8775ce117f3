"""Hyper-parameter sweeps of the experiment presets, recorded trial by trial.

    python benchmarks/sweeps.py --experiment games_sasrec --trials 6 --threads 2
    python benchmarks/sweeps.py --experiment games_gru4rec --trials 4 --override trainer.max_epochs=15
    python benchmarks/sweeps.py --experiment games_sasrec --sampled 100 --selected-by val/sampled_ndcg@10
    python benchmarks/sweeps.py                      # re-render the table from the saved results

Each call runs ``python -m xsell.train -m hparams_search=optuna experiment=NAME`` (the Optuna sweeper plugin,
TPE sampler) in a fresh process. Each call is its own study, seeded with the number of trials already
recorded for the study, so a later call explores new points and its trials join the same table (optuna
2.10, which the sweeper plugin pins, cannot open SQLite studies under SQLAlchemy 2). Every trial is
early-stopped, checkpointed and selected on one validation metric only (``optimized_metric``: NDCG@10 by
default; ``--selected-by`` picks another, e.g. the sampled protocol's, and makes its own study); the best
trial's test metrics are reported once, and the other trials' test numbers are never shown. Trials are
collected into ``benchmarks/results/sweeps.json`` and a table in ``docs/notes/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, markers, run_xsell_train, update_doc  # noqa: E402
from sequence_models import collect_run  # noqa: E402

from xsell.atomic import write_json_atomic  # noqa: E402
from xsell.training.builders import check_optimized_metric  # noqa: E402

SECTION = "sweeps"
TITLE = "## Hyper-parameter sweeps (issue 3)"
RESULTS = ROOT / "benchmarks" / "results" / "sweeps.json"
RUNS = ROOT / "benchmarks" / "runs" / "sweeps"
SELECTED_BY = "val/ndcg@10"


def study_name(experiment: str, selected_by: str) -> str:
    """The key of a study in the results: the experiment, plus the metric when it is not the default."""
    return experiment if selected_by == SELECTED_BY else f"{experiment} by {selected_by}"


def study_folder(experiment: str, selected_by: str) -> str:
    """The study's folder under ``RUNS``: ``games_sasrec``, ``games_sasrec_by_sampled_ndcg10``."""
    metric = selected_by.partition("/")[2].replace("@", "")
    return experiment if selected_by == SELECTED_BY else f"{experiment}_by_{metric}"


def run_sweep(experiment: str, trials: int, seed: int, overrides: list[str], threads: int | None,
              sampled: int | None, selected_by: str) -> tuple[Path, str]:
    """Run ``trials`` Optuna trials (TPE seeded with ``seed``); return the sweep folder and the command."""
    sweep_dir = (RUNS / study_folder(experiment, selected_by)
                 / datetime.now(timezone.utc).strftime("%Y-%m-%d_%H-%M-%S"))
    args = ["-m", "hparams_search=optuna", f"experiment={experiment}", f"hydra.sweep.dir={sweep_dir}",
            f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.sampler.seed={seed}",
            f"optimized_metric={selected_by}",
            "callbacks.progress_bar=null", "export=false", "baseline=false", *overrides]
    if threads:
        args.append(f"threads={threads}")
    if sampled:
        args.append(f"module.sampled_negatives={sampled}")
    return sweep_dir, run_xsell_train(f"sweep of {experiment}", args)


def collect_trials(sweep_dir: Path) -> list[dict[str, Any]]:
    """One record per finished trial: the sampled parameters, the single-run command that repeats it,
    validation and test metrics, cost."""
    records = []
    for metrics_path in sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: int(p.parent.name)):
        trial = metrics_path.parent
        searched = OmegaConf.load(trial / ".hydra" / "hydra.yaml").hydra.sweeper.params
        overrides = OmegaConf.load(trial / ".hydra" / "overrides.yaml")
        params = dict(item.split("=", 1) for item in overrides if item.split("=", 1)[0] in searched)
        metrics = collect_run(trial)
        records.append({
            "run": str(trial.relative_to(ROOT)), "command": metrics["command"], "params": params,
            "val": metrics["val"], "test": metrics["test"], "epochs": metrics["epochs"],
            "train_seconds": metrics["train_seconds"], "peak_memory_mb": metrics["peak_memory_mb"],
        })
    return records


def render(results: dict[str, Any]) -> str:
    """The markdown block: per study, every trial's parameters and validation metrics, and the test metrics
    of the trial best on the study's validation metric only."""
    start, end = markers(SECTION)
    m = results["machine"]
    lines = [
        start, "",
        "Optuna (TPE) sweeps through `hparams_search=optuna`, each trial a full training run checkpointed, "
        "early-stopped and selected on one validation metric: NDCG@10 (full ranking) unless the heading names "
        "another; the test split is read for the best trial only. Generated by `benchmarks/sweeps.py`.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; torch {m['torch']}, "
        f"Lightning {m['pytorch_lightning']}; xsell {m['xsell_commit']}; last run {results['date']}",
    ]
    for study, sweep in results["sweeps"].items():
        trials = sweep["trials"]
        key = sweep.get("selected_by", SELECTED_BY).partition("/")[2]
        columns = ["ndcg@10", "recall@10"] + ([key] if key not in ("ndcg@10", "recall@10") else [])
        best = max(trials, key=lambda t: t["val"][key])
        names = sorted({name for t in trials for name in t["params"]})
        lines += ["", f"### {study}: {len(trials)} trials", "",
                  "| trial | " + " | ".join(names) + " | epochs | train s | "
                  + " | ".join(f"val {_label(c)}" for c in columns) + " |",
                  "|---" * (len(names) + 1) + "|---:|---:" + "|---:" * len(columns) + "|"]
        for t in sorted(trials, key=lambda t: -t["val"][key]):
            mark = " **best**" if t is best else ""
            lines.append(f"| {Path(t['run']).parent.name}/{Path(t['run']).name}{mark} | "
                         + " | ".join(_short(t["params"].get(n, "")) for n in names)
                         + f" | {t['epochs']} | {t['train_seconds']:.0f} | "
                         + " | ".join(f"{t['val'][c]:.4f}" for c in columns) + " |")
        test = best["test"]
        lines += ["", f"Best trial on test: NDCG@10 {test['ndcg@10']:.4f}, Recall@10 {test['recall@10']:.4f}, "
                      f"MRR@10 {test['mrr@10']:.4f}" + (f", sampled HR@10 {test['sampled_hit@10']:.4f} / "
                                                        f"NDCG@10 {test['sampled_ndcg@10']:.4f}"
                                                        if "sampled_hit@10" in test else "") + ".",
                  "", f"Best trial alone: `{best['command']}`", "",
                  "Sweeps: " + "; ".join(f"`{c}`" for c in sweep["commands"])]
    lines += ["", end]
    return "\n".join(lines)


def _label(metric: str) -> str:
    """``sampled_ndcg@10`` -> ``sampled NDCG@10``."""
    sampled = metric.startswith("sampled_")
    base, _, k = metric.removeprefix("sampled_").partition("@")
    name = {"ndcg": "NDCG", "mrr": "MRR", "hit": "HR"}.get(base, base.capitalize())
    return f"{'sampled ' if sampled else ''}{name}@{k}"


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.4g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", help="a name in configs/experiment/ (none: re-render the table)")
    parser.add_argument("--trials", type=int, default=4, help="trials to add to the study")
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides for every trial")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--sampled", type=int, default=None, help="also log sampled metrics (e.g. 100)")
    parser.add_argument("--selected-by", default=SELECTED_BY,
                        help="the validation metric trials are stopped, checkpointed and selected on; another "
                             "than val/ndcg@10 makes its own study (sampled ones need --sampled)")
    parser.add_argument("--collect", type=Path, default=None,
                        help="record the finished trials of an interrupted sweep folder instead of running one "
                             "(its experiment and metric are read from the trials' configs)")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    try:
        check_optimized_metric(args.selected_by, args.sampled)
    except ValueError as error:
        parser.error(f"--selected-by: {error} (--sampled N sets module.sampled_negatives)")

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"sweeps": {}}
    if args.collect or args.experiment:
        start = time.perf_counter()
        if args.collect:
            sweep_dir = args.collect.resolve()
            trial_config = OmegaConf.load(next(sweep_dir.glob("*/.hydra/config.yaml")))
            experiment, selected_by = trial_config.task_name, trial_config.optimized_metric
            sweep = results["sweeps"].setdefault(study_name(experiment, selected_by),
                                                 {"trials": [], "commands": []})
            command = f"(interrupted) {sweep_dir.relative_to(ROOT)}"
        else:
            experiment, selected_by = args.experiment, args.selected_by
            sweep = results["sweeps"].setdefault(study_name(experiment, selected_by),
                                                 {"trials": [], "commands": []})
            sweep_dir, command = run_sweep(experiment, args.trials, len(sweep["trials"]), args.override,
                                           args.threads, args.sampled, selected_by)
        if selected_by != SELECTED_BY:
            sweep["selected_by"] = selected_by
        known = {t["run"] for t in sweep["trials"]}
        sweep["trials"] += [t for t in collect_trials(sweep_dir) if t["run"] not in known]
        sweep["commands"].append(command)
        results["machine"] = machine_info()
        results["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json_atomic(RESULTS, results)
        print(f"{sweep_dir.parent.name}: {len(sweep['trials'])} trials recorded "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    if results["sweeps"]:
        block = render(results)
        if not args.no_doc:
            update_doc(SECTION, TITLE, block)
        print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
