"""The hybrid two-stage model (``xsell.ranking``) against tuned ItemKNN on ML-100K and Amazon Games.

    python benchmarks/hybrid.py                                # both data sets, 3 seeds
    python benchmarks/hybrid.py --datasets ml100k --seeds 0
    python benchmarks/hybrid.py --keep-seen                    # the other protocol: seen items kept

Protocol: leave-one-out, full ranking over the whole catalog, seen items excluded (the default), test read
once per final run. With ``--keep-seen`` history items stay rankable for every model: the hybrid lets them be
candidates (``history_candidates``) and its ranker learns them as negatives like any other item, ItemKNN uses
its settings tuned under that protocol, and results go to ``hybrid_kept.json``. Stage 1 is the ItemKNN and association-rule settings that ``benchmarks/baselines.py``
chose on validation (read from ``benchmarks/results/baselines.json``), a basket-co-occurrence ItemKNN and
popularity, all fitted on training. The ranker trains on the validation targets, so its settings
(candidates per generator, where the ranker learns, item features) are chosen on the ranker's held-out
share of the validation requests (full-ranking MRR, ``holdout_mrr``), never on test (history items are never
candidates: neither data set repeats an item); the chosen setting is
then fitted with each seed and evaluated once on test with :func:`xsell.evaluation.report.evaluate`, beside
tuned ItemKNN and popularity evaluated by the same code. Results: ``benchmarks/results/hybrid.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import DEFAULT_DATA_DIR, ROOT, machine_info, merge_rows, package_version, write_results  # noqa: E402

from xsell.baselines import AssociationRules, ItemKNN, MostPopular  # noqa: E402
from xsell.evaluation.protocol import seen_items_label  # noqa: E402
from xsell.evaluation.report import evaluate  # noqa: E402
from xsell.ranking import HybridRanker  # noqa: E402
from xsell.training.builders import CONFIG_DIR  # noqa: E402

RESULTS = {True: ROOT / "benchmarks" / "results" / "hybrid.json",
           False: ROOT / "benchmarks" / "results" / "hybrid_kept.json"}  # by exclude_seen
TUNED = ROOT / "benchmarks" / "results" / "baselines.json"
DATASETS = {
    "ml100k": {"overrides": ["data=atomic"], "path": "ml-100k", "item_features": ["class"],
               "per_generator": [50, 100], "earlier_targets": 3, "epochs": 20},
    "games": {"overrides": ["data=sasrec_txt"], "path": "amazon-games/Video.txt", "item_features": [],
              "per_generator": [50], "earlier_targets": 1, "epochs": 8},  # 31k users: fewer passes suffice
    "beauty": {"overrides": ["data=sasrec_txt"], "path": "amazon-beauty/beauty.txt", "item_features": [],
               "per_generator": [50], "earlier_targets": 1, "epochs": 8},
}
# Where the ranker learns: the validation targets (a tenth held out to choose the epoch), or each user's
# last training events (``earlier_targets`` of the data set) with every validation target held out.
MODES = {"validation": {"holdout": 0.1}, "earlier": {"holdout": 1.0}}


def mode_options(dataset: str, mode: str) -> dict[str, Any]:
    return {**MODES[mode], "earlier_targets": DATASETS[dataset]["earlier_targets"] if mode == "earlier" else 0}
KEEP = ["ndcg@10", "ndcg@10_ci_low", "ndcg@10_ci_high", "recall@10", "recall@10_ci_low", "recall@10_ci_high",
        "mrr@10", "ndcg@20", "recall@20", "coverage@10"]


def prepared_for(dataset: str, data_dir: Path, item_features: list[str]):
    """The prepared data ``python -m xsell.evaluate`` builds for ``dataset``."""
    spec = DATASETS[dataset]
    overrides = [*spec["overrides"], f"data.path={data_dir / spec['path']}"]
    if item_features:
        overrides.append(f"inputs.item_features=[{','.join(item_features)}]")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("eval", overrides=overrides)
    data = instantiate(cfg.data)
    data.setup()
    return data.prepared


def tuned(dataset: str, baseline: str, exclude_seen: bool) -> dict[str, Any]:
    """The validation-chosen parameters of ``baseline`` on ``dataset`` under the protocol."""
    runs = json.loads(TUNED.read_text())["runs"]
    return next(r["params"] for r in runs if r["dataset"] == dataset and r["baseline"] == baseline
                and r["exclude_seen"] == exclude_seen)


def generators(dataset: str, exclude_seen: bool) -> list[object]:
    knn = tuned(dataset, "itemknn", exclude_seen)
    rules = {k: v for k, v in tuned(dataset, "assoc_rules", exclude_seen).items() if k != "tie_break"}
    basket = {**knn, "window": None, "k": min(knn["k"], 300)}
    return [ItemKNN(**knn), ItemKNN(**basket), AssociationRules(**rules), MostPopular()]


def test_metrics(score, data, name: str, exclude_seen: bool) -> dict[str, float]:
    start = time.perf_counter()
    with torch.no_grad():
        report = evaluate(score, data, ks=(10, 20), exclude_seen=exclude_seen, name=name)
    return {"evaluate_seconds": time.perf_counter() - start, **{k: report.metrics[k] for k in KEEP}}


def run_dataset(dataset: str, data_dir: Path, seeds: list[int], epochs: int | None,
                sizes: list[int] | None = None, modes: list[str] | None = None,
                exclude_seen: bool = True) -> dict[str, Any]:
    epochs = epochs or DATASETS[dataset]["epochs"]
    item_features = DATASETS[dataset]["item_features"]
    data = prepared_for(dataset, data_dir, item_features)
    knn_params = tuned(dataset, "itemknn", exclude_seen)
    knn = ItemKNN(**knn_params).fit(data.log)
    # summed rule scores are exact only with every rule kept (``candidates.generator_of``)
    summed = tuned(dataset, "assoc_rules", exclude_seen)["aggregate"] == "sum"
    protocol = dict(exclude_seen=exclude_seen, history_candidates=not exclude_seen,
                    max_neighbours=None if summed else 300)
    out: dict[str, Any] = {"dataset": dataset, "data": {k: v for k, v in data.summary().items()
                                                         if k != "columns"},
                           "itemknn_params": knn_params,
                           "rules_params": tuned(dataset, "assoc_rules", exclude_seen),
                           "itemknn": test_metrics(knn.score, data, "ItemKNN (tuned)", exclude_seen),
                           "pop": test_metrics(MostPopular().fit(data.log).score, data, "pop", exclude_seen)}
    print(f"{dataset}: ItemKNN test ndcg@10 {out['itemknn']['ndcg@10']:.4f}", flush=True)
    search = []
    feature_options = [None, data.item_features] if item_features else [None]
    for per_generator, mode, features in itertools.product(sizes or DATASETS[dataset]["per_generator"],
                                                           modes or list(MODES), feature_options):
        start = time.perf_counter()
        hybrid = HybridRanker(generators(dataset, exclude_seen), per_generator=per_generator, epochs=epochs,
                              **mode_options(dataset, mode), **protocol, seed=seeds[0])
        hybrid.fit(data.log, item_features=features)
        trial = {"per_generator": per_generator, "mode": mode,
                 "item_features": item_features if features is not None else [], **hybrid.fit_report,
                 "fit_seconds": time.perf_counter() - start}
        search.append(trial)
        print(f"{dataset}: {trial}", flush=True)
    best = max(search, key=lambda t: t["holdout_mrr"])
    runs = []
    for seed in seeds:
        start = time.perf_counter()
        hybrid = HybridRanker(generators(dataset, exclude_seen), per_generator=best["per_generator"], epochs=epochs,
                              **mode_options(dataset, best["mode"]), **protocol, seed=seed)
        hybrid.fit(data.log, item_features=data.item_features if best["item_features"] else None)
        fit_seconds = time.perf_counter() - start
        runs.append({"seed": seed, "fit_seconds": fit_seconds, **hybrid.fit_report,
                     "test": test_metrics(hybrid.score, data, "hybrid", exclude_seen)})
        print(f"{dataset} seed {seed}: hybrid test ndcg@10 {runs[-1]['test']['ndcg@10']:.4f}", flush=True)
    values = [r["test"]["ndcg@10"] for r in runs]
    out.update(epochs=epochs, search=search, chosen={k: best[k] for k in ("per_generator", "mode", "item_features")},
               hybrid=runs, hybrid_ndcg10_mean=statistics.mean(values),
               hybrid_ndcg10_std=statistics.stdev(values) if len(values) > 1 else 0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="ranker epochs (default: per data set)")
    parser.add_argument("--per-generator", nargs="*", type=int, default=None,
                        help="candidates per generator to search (default: per data set)")
    parser.add_argument("--modes", nargs="*", default=None, choices=list(MODES), help="where the ranker learns")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--keep-seen", action="store_true", help="the protocol that keeps history items rankable")
    parser.add_argument("--output", type=Path, default=None, help="default: hybrid.json / hybrid_kept.json")
    args = parser.parse_args()
    exclude_seen = not args.keep_seen
    args.output = args.output or RESULTS[exclude_seen]
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info()
    results = {"command": "python " + " ".join(sys.argv), "date": datetime.now(timezone.utc).isoformat(
               timespec="seconds"), "machine": machine, "scipy": package_version("scipy"),
               "protocol": f"leave-one-out, full ranking, {seen_items_label(exclude_seen)}, test read once per final run",
               "datasets": []}
    earlier = json.loads(args.output.read_text())["datasets"] if args.output.exists() else []
    for dataset in args.datasets:
        start = time.perf_counter()
        results["datasets"].append({**run_dataset(dataset, args.data_dir, args.seeds, args.epochs, args.per_generator,
                                                args.modes, exclude_seen),
                                    "seconds": time.perf_counter() - start})
        # after each data set; rows of data sets not run this time stay, each with its own command and machine
        for d in results["datasets"]:
            d.update(command=results["command"], date=results["date"], machine=machine)
        write_results(args.output, {**results, "datasets": merge_rows(earlier, results["datasets"],
                                                                      lambda d: d["dataset"])})
    for d in results["datasets"]:
        print(f"{d['dataset']}: ItemKNN {d['itemknn']['ndcg@10']:.4f}  pop {d['pop']['ndcg@10']:.4f}  hybrid "
              f"{d['hybrid_ndcg10_mean']:.4f} +- {d['hybrid_ndcg10_std']:.4f} ({d['chosen']})")


if __name__ == "__main__":
    main()
