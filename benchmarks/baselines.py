"""Every baseline on the real data sets, tuned on validation only, tested once.

    python benchmarks/baselines.py                         # ML-100K and Amazon Games, both protocols
    python benchmarks/baselines.py --datasets ml100k --baselines pop itemknn

For each data set (leave-one-out, as ``xsell.evaluate`` builds it from ``configs/data``) and each
baseline, a coordinate search over a small grid picks the hyper-parameters with the best *validation*
NDCG@10 (full ranking), separately for the two protocols (history items kept in the ranking / excluded).
The chosen configuration is then refitted once and evaluated on the test targets with
:func:`xsell.evaluation.report.evaluate` (bootstrap 95% CIs). Results go to
``benchmarks/results/baselines.json`` and the ``baselines`` section of ``docs/notes/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import (  # noqa: E402
    DEFAULT_DATA_DIR,
    ROOT,
    machine_info,
    markers,
    merge_rows,
    package_version,
    update_doc,
    write_results,
)

from xsell.evaluation.protocol import evaluate_scorer  # noqa: E402
from xsell.evaluation.report import evaluate  # noqa: E402
from xsell.training.builders import CONFIG_DIR as BUILDERS_CONFIG_DIR  # noqa: E402

SECTION = "baselines"
TITLE = "## Baselines (issue 4)"
RESULTS = ROOT / "benchmarks" / "results" / "baselines.json"
CONFIG_DIR = Path(BUILDERS_CONFIG_DIR)

DATASETS = {
    "ml100k": {"label": "MovieLens-100K (RecBole atomic, 5-core)", "overrides": ["data=atomic"],
               "path": "ml-100k"},
    "games": {"label": "Amazon Games (SASRec Video.txt)", "overrides": ["data=sasrec_txt"],
              "path": "amazon-games/Video.txt"},
    "beauty": {"label": "Amazon Beauty (BERT4Rec paper's beauty.txt)", "overrides": ["data=sasrec_txt"],
               "path": "amazon-beauty/beauty.txt"},
}

# Search spaces: each parameter's candidate values, searched one coordinate at a time from the config
# file's values. ``None`` entries are YAML nulls (e.g. ItemKNN window None = basket co-occurrence).
SPACES: dict[str, dict[str, list]] = {
    "pop": {},
    "markov": {"alpha": [0.1, 1.0, 10.0]},
    "itemknn": {"window": [None, 1, 3, 10, 30], "k": [100, 300, 1000], "shrink": [0.0, 10.0, 100.0],
                "history": [1, 3, 10, 50], "decay": [0.5, 0.8, 1.0]},
    "assoc_rules": {"metric": ["confidence", "lift"], "aggregate": ["max", "sum"],
                    "min_support": [0.0, 1e-4, 1e-3, 1e-2, 5e-2], "history": [1, 3, 10]},
    "ease": {"l2": [10.0, 100.0, 500.0, 2000.0, 10000.0]},
}
# Dataset-specific fixed settings (EASE inverts an [M, M] matrix: cap M on the 23k-item catalog).
FIXED = {("games", "ease"): {"max_items": 5000}}
PASSES = 2

# Reference numbers on the same split and protocol (leave-one-out, full ranking, seen items kept).
PEERS = [
    "No published full-ranking leave-one-out numbers were found for these baselines on these two exact "
    "files (published baseline tables for ML-100K and Games use other splits or the sampled protocol, "
    "which are not comparable). Same-split references instead: RecBole 1.2.1 peer runs on this machine kind "
    "(time-capped, `../shared/peer/recbole/results`): ML-100K SASRec NDCG@10 0.0564 / Recall@10 0.1198, "
    "GRU4Rec 0.0571 / 0.1209; Games SASRec 0.0403 / 0.0786.",
]


def datamodule_for(dataset: str, data_dir: Path):
    """The data module ``xsell.evaluate`` would build for ``dataset`` (set up)."""
    spec = DATASETS[dataset]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=[*spec["overrides"], f"data.path={data_dir / spec['path']}"])
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    return datamodule


def baseline_config(name: str, params: dict[str, Any]):
    """``configs/baselines/<name>.yaml`` with ``params`` overriding its values."""
    cfg = OmegaConf.load(CONFIG_DIR / "baselines" / f"{name}.yaml")
    return OmegaConf.merge(cfg, params)


def validation_ndcg(cfg, datamodule, exclude_seen: bool) -> float:
    scorer = instantiate(cfg).fit(datamodule.prepared.log)
    metrics = evaluate_scorer(scorer.score, datamodule.val_dataloader(), ks=(10,), exclude_seen=exclude_seen)
    return metrics["ndcg@10"]


def coordinate_search(name: str, dataset: str, datamodule, exclude_seen: bool) -> dict[str, Any]:
    """Best parameters by validation NDCG@10, and every trial (params, value)."""
    base = dict(OmegaConf.to_container(baseline_config(name, FIXED.get((dataset, name), {}))))
    base.pop("_target_")
    trials: list[dict[str, Any]] = []
    seen: dict[str, float] = {}

    def trial(params: dict[str, Any]) -> float:
        key = json.dumps(params, sort_keys=True)
        if key not in seen:
            seen[key] = validation_ndcg(baseline_config(name, params), datamodule, exclude_seen)
            trials.append({"params": params, "val_ndcg@10": seen[key]})
        return seen[key]

    best, best_value = dict(base), trial(dict(base))
    for _ in range(PASSES):
        improved = False
        for parameter, values in SPACES[name].items():
            for value in values:
                candidate = {**best, parameter: value}
                score = trial(candidate)
                if score > best_value + 1e-12:
                    best, best_value, improved = candidate, score, True
        if not improved:
            break
    return {"params": best, "val_ndcg@10": best_value, "trials": trials}


def test_run(name: str, params: dict[str, Any], datamodule, exclude_seen: bool) -> dict[str, Any]:
    """Refit the chosen configuration (fastest of three fits) and evaluate it once on test."""
    fit_seconds = []
    for _ in range(3):
        start = time.perf_counter()
        scorer = instantiate(baseline_config(name, params)).fit(datamodule.prepared.log)
        fit_seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    with torch.no_grad():
        report = evaluate(scorer.score, datamodule.prepared, ks=(10, 20), exclude_seen=exclude_seen, name=name,
                          batch_size=datamodule.eval_batch_size)
    m = report.metrics
    keep = ["ndcg@10", "ndcg@10_ci_low", "ndcg@10_ci_high", "recall@10", "recall@10_ci_low",
            "recall@10_ci_high", "mrr@10", "ndcg@20", "recall@20", "coverage@10"]
    return {"fit_seconds": min(fit_seconds), "evaluate_seconds": time.perf_counter() - start,
            **{key: m[key] for key in keep}}


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    m = results["machine"]
    lines = [
        start, "",
        "Leave-one-out, full ranking over the whole catalog, test split read once. Hyper-parameters: "
        "coordinate search on *validation* NDCG@10 only, separately for each protocol (history items kept "
        "in the ranking, or excluded); the grids are `SPACES` in the script. Brackets: bootstrap 95% CI. "
        "*Fit s*: fastest of three fits. Generated by `benchmarks/baselines.py`.",
        "",
        f"- Command: `{results['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, load average at start "
        f"{m['load_average_at_start']}; date {results['date']}",
        f"- xsell {m['xsell_commit']}{' (uncommitted changes)' if m['xsell_modified'] else ''}: "
        f"Python {m['python']}, torch {m['torch']}, polars {m['polars']}, scipy {results['scipy']}",
        "",
        "| data | baseline | seen items | chosen parameters | trials | fit s | val NDCG@10 | test NDCG@10 | "
        "test Recall@10 | test MRR@10 | coverage@10 |",
        "|---|---|---|---|---:|---:|---:|---|---|---:|---:|",
    ]
    for row in results["runs"]:
        t = row["test"]
        params = ", ".join(f"{k} {v}" for k, v in row["params"].items() if k != "tie_break") or "-"
        lines.append(
            f"| {row['dataset']} | {row['baseline']} | {'excluded' if row['exclude_seen'] else 'kept'} | "
            f"{params} | {row['trials']} | {t['fit_seconds']:.2f} | {row['val_ndcg@10']:.4f} | "
            f"{t['ndcg@10']:.4f} [{t['ndcg@10_ci_low']:.4f}, {t['ndcg@10_ci_high']:.4f}] | "
            f"{t['recall@10']:.4f} [{t['recall@10_ci_low']:.4f}, {t['recall@10_ci_high']:.4f}] | "
            f"{t['mrr@10']:.4f} | {t['coverage@10']:.3f} |")
    later = sorted({r["command"] for r in results["runs"] if "command" in r})
    if later:
        lines += ["", "Rows re-run since (each row records its own command, machine and date in the JSON): "
                  + ", ".join(f"`{c}`" for c in later)]
    lines += ["", "References:", "", *[f"- {peer}" for peer in PEERS], "", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--baselines", nargs="*", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info()
    runs = []
    for dataset in args.datasets:
        datamodule = datamodule_for(dataset, args.data_dir)
        for name in args.baselines:
            for exclude_seen in (False, True):
                start = time.perf_counter()
                search = coordinate_search(name, dataset, datamodule, exclude_seen)
                test = test_run(name, search["params"], datamodule, exclude_seen)
                runs.append({"dataset": dataset, "baseline": name, "exclude_seen": exclude_seen,
                             "params": search["params"], "val_ndcg@10": search["val_ndcg@10"],
                             "trials": len(search["trials"]), "search": search["trials"], "test": test,
                             "seconds": time.perf_counter() - start})
                print(f"{dataset} {name} exclude_seen={exclude_seen}: {search['params']} val "
                      f"{search['val_ndcg@10']:.4f} test {test['ndcg@10']:.4f} "
                      f"({runs[-1]['seconds']:.0f} s)", flush=True)
    command = "python benchmarks/baselines.py"
    if args.datasets != list(DATASETS):
        command += " --datasets " + " ".join(args.datasets)
    if args.baselines != list(SPACES):
        command += " --baselines " + " ".join(args.baselines)
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results = {"command": command, "date": date, "machine": machine, "scipy": package_version("scipy"), "runs": runs}
    if command != "python benchmarks/baselines.py" and RESULTS.exists():
        # a partial run replaces its own rows and keeps the others, each row saying how it was made
        earlier = json.loads(RESULTS.read_text())
        for run in runs:
            run.update(command=command, date=date, machine=machine)
        results = {**earlier, "runs": merge_rows(earlier["runs"], runs,
                                                 lambda r: (r["dataset"], r["baseline"], r["exclude_seen"]))}
    write_results(RESULTS, results)
    update_doc(SECTION, TITLE, render(results))
    print(render(results))


if __name__ == "__main__":
    main()
