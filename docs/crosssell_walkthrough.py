"""The walk-through of docs/crosssell.md: cross-sell rules and trigger points on the synthetic shop.

    python docs/crosssell_walkthrough.py [--out DIR]   # about a minute, one thread

Fits ItemKNN (``xsell/configs/baselines/itemknn.yaml``) on a temporal split of the seeded synthetic shop (training
before the 80% time quantile), re-ranks it with rule sets from ``xsell/configs/rules/``, and evaluates every
variant on the test targets (full ranking) and at trigger points (cart / purchase, a purchase within the
window). Besides the library's metrics it reads the shop's planted truth: the mean planted affinity of the
(last item, recommended item) pairs of the top 10 (:meth:`ShopGroundTruth.affinity`, 0 for a same-category or
unrelated item). Writes ``crosssell_walkthrough.json``, two PNGs under ``images/`` and the markdown block
``crosssell_walkthrough.md`` into ``--out`` (default: a new ``outputs/walkthroughs/crosssell_walkthrough/<time>/``);
tracked files are rewritten only with ``--update-docs`` (``benchmarks/results/``, ``docs/images/`` and the
block of ``docs/crosssell.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("GIT_OPTIONAL_LOCKS", "0")  # machine_info reads git status: never write its index
from environment import (  # noqa: E402
    machine_info,
    markers,
    update_doc,
    walkthrough_arguments,
    walkthrough_folder,
)

from xsell.crosssell.catalog import ItemCatalog  # noqa: E402
from xsell.crosssell.pipeline import build_pipeline  # noqa: E402
from xsell.data.prepared import prepare  # noqa: E402
from xsell.data.synthetic import synthetic_shop  # noqa: E402
from xsell.evaluation.report import evaluate  # noqa: E402
from xsell.evaluation.table import LAST_ITEM, TOP_K  # noqa: E402
from xsell.evaluation.trigger import TriggerWindow  # noqa: E402

SECTION = "crosssell_walkthrough"
DOC = ROOT / "docs" / "crosssell.md"
RESULTS = ROOT / "benchmarks" / "results" / "crosssell_walkthrough.json"
IMAGES = ROOT / "docs" / "images"
RULES = ROOT / "xsell" / "configs" / "rules"
N_EVENTS = 100_000
K = 10
WINDOWS_DAYS = (1, 3, 7, 14, 30)
# name -> (rules config file or None, overrides)
VARIANTS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "no rules": (None, {}),
    "complement x0.9": ("complement", {"complement.factor": 0.9}),
    "complement x0.3": ("complement", {"complement.factor": 0.3}),
    "complement": ("complement", {}),
    "serving": ("serving", {}),
    "cross_sell": ("cross_sell", {}),
}
SHOWN = ("ndcg@10", "recall@10", "coverage@10", "diversity@10", "complement_rate@10", "planted_affinity@10",
         "window_hit@10", "new_window_hit@10")


def rules_of(name: str | None, overrides: dict[str, Any]) -> dict | None:
    """The instantiated rule factories of ``configs/rules/<name>.yaml`` with dotted overrides."""
    if name is None:
        return None
    config = OmegaConf.load(RULES / f"{name}.yaml")
    for key, value in overrides.items():
        OmegaConf.update(config, key, value)
    return instantiate(config)


def planted_affinity(table, vocab, truth, k: int) -> float:
    """Mean planted affinity of (last history item, recommended item) over the top-k of every list."""
    lists = table.get_column(TOP_K).list.head(k)
    lengths = lists.list.len().to_numpy()
    last = np.repeat(table.get_column(LAST_ITEM).to_numpy(), lengths)
    items = lists.explode().drop_nulls().to_numpy()
    known = last >= 2
    anchors = np.array(vocab.decode(last[known]), dtype=object)
    recommended = np.array(vocab.decode(items[known]), dtype=object)
    return float(np.asarray(truth.affinity(anchors, recommended)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    walkthrough_arguments(parser)
    args = parser.parse_args()
    out = walkthrough_folder(SECTION, args.out)
    torch.set_num_threads(1)
    info = {**machine_info(), "threads": 1, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    start = time.perf_counter()
    shop = synthetic_shop(n_events=N_EVENTS, seed=0)
    data = prepare(shop, split="temporal", cutoff=0.8, max_len=50)
    model = instantiate(OmegaConf.load(ROOT / "xsell" / "configs" / "baselines" / "itemknn.yaml")).fit(data.log)
    catalog = ItemCatalog.of(data)
    vocab = data.item_vocab

    results: dict[str, dict[str, float]] = {}
    windows: dict[str, list[float]] = {}
    for name, (config, overrides) in VARIANTS.items():
        rules = rules_of(config, overrides)
        score = build_pipeline(rules, catalog).wrap(model.score) if rules else model.score
        report = evaluate(score, data, ks=(K,), name=name, n_resamples=200)
        trigger = TriggerWindow(window_days=14).evaluate(score, data, ks=(K,))
        new = TriggerWindow(window_days=14, new_items_only=True).evaluate(score, data, ks=(K,))
        results[name] = {**{key: report.metrics[key] for key in SHOWN if key in report.metrics},
                         "planted_affinity@10": planted_affinity(report.table, vocab, shop.ground_truth, K),
                         **trigger.metrics, **{f"new_{key}": value for key, value in new.metrics.items()}}
        if name in ("no rules", "complement"):
            for only_new in (False, True):
                windows[f"{name}{', new items' if only_new else ''}"] = [
                    TriggerWindow(window_days=d, new_items_only=only_new).evaluate(score, data, ks=(K,))
                    .metrics[f"window_hit@{K}"] for d in WINDOWS_DAYS]
        print(name, {key: round(results[name][key], 4) for key in SHOWN})
    seconds = time.perf_counter() - start

    images, results_file = (IMAGES, RESULTS) if args.update_docs else (out / "images", out / f"{SECTION}.json")
    plot_metrics(results, images / "crosssell_rules.png")
    plot_windows(windows, images / "crosssell_trigger_window.png")
    summary = data.summary()
    payload = {"machine": info, "seconds": seconds, "n_events": N_EVENTS, "seed": 0, "model": "ItemKNN",
               "split": "temporal, cutoff 0.8", "test_targets": summary["test_targets"],
               "variants": {name: {"rules": config, "overrides": overrides} for name, (config, overrides)
                            in VARIANTS.items()},
               "results": results, "window_days": list(WINDOWS_DAYS), "window_hit_by_days": windows}
    results_file.write_text(json.dumps(payload, indent=2))
    (out / f"{SECTION}.md").write_text(render(payload) + "\n")
    if args.update_docs:
        update_doc(SECTION, "## Walk-through numbers", render(payload), doc=DOC)
    print(f"{seconds:.1f} s -> {out / (SECTION + '.md')}" + (f", {results_file}, {DOC}" if args.update_docs else ""))


def plot_metrics(results: dict[str, dict[str, float]], path: Path) -> None:
    names = list(results)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, name in enumerate(names):
        ax.bar(np.arange(len(SHOWN)) + i * width, [results[name][m] for m in SHOWN], width, label=name)
    ax.set_xticks(np.arange(len(SHOWN)) + width * (len(names) - 1) / 2, SHOWN, rotation=15)
    ax.set_title("ItemKNN on the synthetic shop: test targets (full ranking) and trigger points, k = 10")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_windows(windows: dict[str, list[float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in windows.items():
        ax.plot(WINDOWS_DAYS, values, marker="o", label=name)
    ax.set_xlabel("window (days after the cart / purchase)")
    ax.set_ylabel(f"window_hit@{K}")
    ax.set_xscale("log")
    ax.set_xticks(WINDOWS_DAYS, [str(d) for d in WINDOWS_DAYS])
    ax.set_title("A purchase of a recommended item within the window")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render(payload: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    info = payload["machine"]
    rows = ["| rules | " + " | ".join(SHOWN) + " | triggers (with a target / a new item) |",
            "|---|" + "---:|" * (len(SHOWN) + 1)]
    for name, values in payload["results"].items():
        rows.append(f"| {name} | " + " | ".join(f"{values[m]:.4f}" for m in SHOWN)
                    + f" | {int(values['window_triggers'])} ({int(values['window_triggers_with_target'])} / "
                    f"{int(values['new_window_triggers_with_target'])}) |")
    windows = ["| window (days) | " + " | ".join(str(d) for d in payload["window_days"]) + " |",
               "|---|" + "---:|" * len(payload["window_days"])]
    windows += [f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) + " |"
                for name, values in payload["window_hit_by_days"].items()]
    return "\n".join([
        start,
        f"Generated by `python docs/crosssell_walkthrough.py` on {info['date']} in {payload['seconds']:.0f} s "
        f"(1 thread); do not edit by hand. Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB; "
        f"load average at start {', '.join(str(x) for x in info['load_average_at_start'])} (shared machine). "
        f"Python {info['python']}, torch {info['torch']}, polars {info['polars']}, numpy {info['numpy']}.",
        "",
        f"Synthetic shop, {payload['n_events']:,} events, seed 0; temporal split at the 80% time quantile; "
        f"ItemKNN (`xsell/configs/baselines/itemknn.yaml`); {payload['test_targets']} test targets; trigger window 14 days.",
        "",
        *rows,
        "",
        f"`window_hit@{K}` by window length:",
        "",
        *windows,
        "",
        "![metrics with and without rules](images/crosssell_rules.png)",
        "",
        "![window hit rate by window length](images/crosssell_trigger_window.png)",
        end,
    ])


if __name__ == "__main__":
    main()
