"""SASRec+ on Amazon Beauty against its published full-ranking numbers, over several seeds.

    python benchmarks/beauty_reproduction.py --experiment beauty_sasrec --seeds 0 1 2
    python benchmarks/beauty_reproduction.py --experiment beauty_sasrec_sampled --seeds 0 1 2
    python benchmarks/beauty_reproduction.py --experiment beauty_sasrec --collect 0=outputs/.../run   # by hand

Each seed is a fresh ``python -m xsell.train experiment=NAME seed=S`` process (or a finished run of that
command, ``--collect SEED=RUN_DIR``). The checkpoint is chosen on validation NDCG@10 and the test split is
read once per run, leave-one-out, full ranking, seen items excluded (the published protocol). The JSON keeps
every seed's metrics (with their bootstrap intervals over users), the mean, the standard deviation and a
t-interval over seeds, and the published anchors; results go to
``benchmarks/results/beauty_reproduction.json`` keyed by experiment.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, train_in_subprocess, write_results  # noqa: E402
from sequence_models import collect_run  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "beauty_reproduction.json"
RUNS = ROOT / "benchmarks" / "runs"
# Klenitskiy & Vasilev, RecSys 2023 (README of antklen/sasrec-bert4rec-recsys23), the same beauty.txt,
# leave-one-out, full ranking, seen items filtered: test NDCG@10 / HitRate@10.
PUBLISHED = {
    "beauty_sasrec": {"model": "SASRec+ (cross-entropy over all items)", "ndcg@10": 0.0327, "recall@10": 0.0533},
    "beauty_sasrec_sampled": {"model": "SASRec+ 3000 (3,000 sampled negatives)", "ndcg@10": 0.0295,
                              "recall@10": 0.0490},
}
KEEP = ("ndcg@10", "ndcg@10_ci_low", "ndcg@10_ci_high", "recall@10", "recall@10_ci_low", "recall@10_ci_high",
        "mrr@10", "ndcg@20", "recall@20")


def summary(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation and a 95% t-interval of the mean over seeds."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return {"mean": mean, "std": 0.0, "n": len(values)}
    std = statistics.stdev(values)
    half = stats.t.ppf(0.975, len(values) - 1) * std / len(values) ** 0.5
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "n": len(values)}


def validation_curve(run_dir: Path) -> list[float]:
    """Validation NDCG@10 after each epoch, from the run's CSV log."""
    curve = []
    for path in sorted(run_dir.glob("csv/**/metrics.csv")):
        with path.open() as f:
            curve += [float(row["val/ndcg@10"]) for row in csv.DictReader(f) if row.get("val/ndcg@10")]
    return curve


def seed_row(seed: int, metrics: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    curve = validation_curve(run_dir)
    return {"seed": seed, "command": metrics["command"], "val_ndcg10_by_epoch": curve,
            "best_epoch": curve.index(max(curve)) + 1 if curve else None,
            "epochs": metrics.get("epochs"), "train_seconds": metrics.get("train_seconds"),
            "val": {k: metrics["val"][k] for k in ("ndcg@10", "recall@10") if k in metrics["val"]},
            "test": {k: metrics["test"][k] for k in KEEP if k in metrics["test"]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", required=True, choices=sorted(PUBLISHED))
    parser.add_argument("--seeds", nargs="*", type=int, default=[], help="seeds to train now")
    parser.add_argument("--collect", nargs="*", default=[], metavar="SEED=RUN_DIR",
                        help="finished runs of `python -m xsell.train experiment=NAME seed=SEED` to add")
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides for the runs trained now")
    args = parser.parse_args(argv)

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    entry = results.get(args.experiment, {"published": PUBLISHED[args.experiment], "seeds": {}})
    runs = [(int(seed), Path(run_dir)) for seed, run_dir in (item.split("=", 1) for item in args.collect)]
    runs += [(seed, None) for seed in args.seeds]
    for seed, run_dir in runs:
        if run_dir is None:
            name = f"{args.experiment}_seed{seed}"
            run_dir = RUNS / name
            metrics = train_in_subprocess(name, run_dir, [f"experiment={args.experiment}", f"seed={seed}",
                                                              "export=false", "callbacks.progress_bar=null",
                                                              *args.override])
        else:
            metrics = collect_run(run_dir)
        entry["seeds"][str(seed)] = {**seed_row(seed, metrics, run_dir), "machine": machine_info(),
                                     "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        rows = list(entry["seeds"].values())
        entry["test_ndcg@10"] = summary([r["test"]["ndcg@10"] for r in rows])
        entry["test_recall@10"] = summary([r["test"]["recall@10"] for r in rows])
        results[args.experiment] = entry
        write_results(RESULTS, results)
        print(f"{args.experiment} seed {seed}: test ndcg@10 {metrics['test']['ndcg@10']:.4f} recall@10 "
              f"{metrics['test']['recall@10']:.4f} (published {PUBLISHED[args.experiment]['ndcg@10']} / "
              f"{PUBLISHED[args.experiment]['recall@10']})", flush=True)
    for name, e in results.items():
        n, r = e["test_ndcg@10"], e["test_recall@10"]
        print(f"{name}: {n['n']} seeds, test NDCG@10 {n['mean']:.4f} +- {n['std']:.4f}, Recall@10 {r['mean']:.4f} "
              f"+- {r['std']:.4f}; published {e['published']['ndcg@10']} / {e['published']['recall@10']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
