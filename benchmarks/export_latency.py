"""Serving benchmark (issue 6): latency and throughput of the exported SASRec scorer, and its parity.

SASRec on the Amazon Games catalog (``Video.txt``, leave-one-out, history 50; 2 layers, 64-d, 2 heads;
seeded and untrained: latency does not depend on the weights) is exported with ``xsell.export`` to a
bundle in a temp folder; then, on CPU with 1 and 2 torch threads, for the eager ``TopKScorer`` (the
``nn.Module``), ``scorer.pt`` (TorchScript) and ``scorer.pt2`` (torch.export), all called the same way,
``scorer(items, 10, exclude)`` with real test histories left-padded to 50 and an all-False mask:

* latency at batch 1: ``--calls`` single-history calls (after ``--warmup``), p50 / p99 of each call's wall
  time. Target p50 < 2 ms.
* throughput at batch 256: histories per second over ``--batches`` calls (median call time).

Parity: the two serving formats (reloaded from the bundle) against the eager model's own top-10
(``xsell.export.parity.eager_topk``) on 1,000 random and 1,000 real histories, at batch sizes and lengths
other than the export example's.

Usage::

    python benchmarks/export_latency.py [--data-dir ../shared/data] [--calls 2000]

Writes ``benchmarks/results/export_latency.json`` and the ``export_latency`` block of ``docs/notes/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import DEFAULT_DATA_DIR, ROOT, machine_info, markers, update_doc, write_results  # noqa: E402

from xsell.data.datasets import evaluation_targets  # noqa: E402
from xsell.data.prepared import prepare  # noqa: E402
from xsell.data.readers import read_sasrec_txt  # noqa: E402
from xsell.export.bundle import load_bundle, reference  # noqa: E402
from xsell.export.parity import check_parity, cut_histories, random_histories  # noqa: E402
from xsell.export.run import export_model  # noqa: E402
from xsell.export.scorer import TopKScorer  # noqa: E402
from xsell.models import SASRec  # noqa: E402

SECTION = "export_latency"
TITLE = "## Export to serving: scorer latency and parity (issue 6)"
RESULTS = ROOT / "benchmarks" / "results" / "export_latency.json"
MAX_LEN, DIM, LAYERS, HEADS, K = 50, 64, 2, 2, 10
TARGET_P50_MS = 2.0
RANDOM_SHAPES = [(1, 1), (1, MAX_LEN), (2, 5), (5, MAX_LEN + 9), (64, 11), (127, MAX_LEN), (800, 23)]
REAL_SHAPES = [(1, MAX_LEN), (37, 13), (462, MAX_LEN), (500, MAX_LEN + 6)]


def latency_ms(scorer, items: torch.Tensor, exclude: torch.Tensor, calls: int, warmup: int) -> list[float]:
    """Wall time of each single-history call (cycling through ``items`` rows), in milliseconds."""
    times = []
    with torch.no_grad():
        for i in range(warmup + calls):
            row = i % len(items)
            start = time.perf_counter()
            scorer(items[row:row + 1], K, exclude)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return times


def throughput(scorer, items: torch.Tensor, exclude: torch.Tensor, batches: int, warmup: int = 3) -> float:
    """Histories per second at batch ``len(items)`` (median call time)."""
    times = []
    with torch.no_grad():
        for i in range(warmup + batches):
            start = time.perf_counter()
            scorer(items, K, exclude)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return len(items) / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--calls", type=int, default=2000, help="timed batch-1 calls per format and thread count")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--batches", type=int, default=20, help="timed batch-256 calls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    path = args.data_dir / "amazon-games" / "Video.txt"
    if not path.is_file():
        print(f"{path} not found", file=sys.stderr)
        return 1

    machine = machine_info("xsell/export")
    data = prepare(read_sasrec_txt(path), max_len=MAX_LEN)
    test = evaluation_targets(data, "test")
    torch.manual_seed(args.seed)
    model = SASRec(data.num_items, dim=DIM, layers=LAYERS, heads=HEADS, max_len=MAX_LEN).eval()
    config = OmegaConf.create({"model": {"_target_": "xsell.models.SASRec", "dim": DIM, "layers": LAYERS},
                               "inputs": {"event_types": False, "time_gaps": False}})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        bundle = load_bundle(export_model(model, data, config, Path(tmp) / "bundle"))
        export_s = time.perf_counter() - start
        sizes = {name: entry["bytes"] for name, entry in bundle.manifest["files"].items()}
        eager = TopKScorer(model, data.item_counts())
        formats = {"eager": eager, "scorer.pt": bundle.scorer, "scorer.pt2": bundle.program()}

        # Parity: 1,000 random and 1,000 real histories, shapes unlike the export example (3, 7).
        num_items = data.num_items
        real = {"items": test.items[:1000]}
        served = {name: formats[name] for name in ("scorer.pt", "scorer.pt2")}
        parity = {
            "random": check_parity(served, reference(eager), random_histories(num_items, RANDOM_SHAPES,
                                                                               seed=args.seed), K),
            "real": check_parity(served, reference(eager), cut_histories(real, num_items, REAL_SHAPES), K),
        }

        histories = test.items[:1000]  # [1000, 50] real, left-padded
        big = test.items[1000:1256]  # [256, 50]
        timings: dict[str, Any] = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for name, scorer in formats.items():
                times = latency_ms(scorer, histories, torch.zeros(1, num_items, dtype=torch.bool),
                                   args.calls, args.warmup)
                rate = throughput(scorer, big, torch.zeros(len(big), num_items, dtype=torch.bool), args.batches)
                timings[f"{name}/{threads}"] = {
                    "format": name, "threads": threads,
                    "p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
                    "mean_ms": float(np.mean(times)), "throughput_per_s_batch_256": rate,
                }
                print(f"{name:10s} threads={threads}: p50 {timings[f'{name}/{threads}']['p50_ms']:.3f} ms, "
                      f"p99 {timings[f'{name}/{threads}']['p99_ms']:.3f} ms, batch 256: {rate:,.0f}/s",
                      file=sys.stderr, flush=True)

    results = {
        "command": shlex.join(["python", *sys.argv]) if argv is None else shlex.join(["python", __file__, *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": args.seed, "machine": machine,
        "model": {"name": "SASRec", "dim": DIM, "layers": LAYERS, "heads": HEADS, "max_len": MAX_LEN,
                  "num_items": data.num_items, "known_items": data.item_vocab.num_known,
                  "items_in_file": data.interactions.num_items, "trained": False},
        "export_seconds": export_s, "bundle_bytes": sizes,
        "calls": args.calls, "warmup": args.warmup, "batches": args.batches, "target_p50_ms": TARGET_P50_MS,
        "timings": timings,
        "parity": {part: {name: r.to_dict() for name, r in results.items()} for part, results in parity.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_results(RESULTS, results)
    block = render(results)
    if not args.no_doc:
        update_doc(SECTION, TITLE, block)
    print(block)
    return 0


def render(results: dict[str, Any]) -> str:
    """The block between the markers in ``docs/notes/benchmarks.md``."""
    start, end = markers(SECTION)
    m, model = results["machine"], results["model"]
    lines = [
        start, "",
        f"SASRec ({model['layers']} layers, {model['dim']}-d, {model['heads']} heads, history {model['max_len']}; "
        f"seeded, untrained) on the Amazon Games catalog ({model['known_items']:,} items seen in training of "
        f"the {model.get('items_in_file', 0):,} in the file; {model['num_items']:,} indices with padding and "
        "unknown), exported with `xsell.export` "
        f"({results['export_seconds']:.1f} s; scorer.pt {results['bundle_bytes']['scorer.pt'] / 2**20:.1f} MiB, "
        f"scorer.pt2 {results['bundle_bytes']['scorer.pt2'] / 2**20:.1f} MiB). Every format is called as "
        "`scorer(items, 10, exclude)` with real test histories (left-padded to 50) and an all-False mask, "
        "history items excluded; top-10 indices and scores out. Batch 1: p50 / p99 over "
        f"{results['calls']:,} calls after {results['warmup']} warm-up calls; batch 256: median of "
        f"{results['batches']} calls. Generated by the command below; do not edit by hand.",
        "",
        f"- Command: `{results['command']}`",
        f"- Date: {results['date']}; seed {results['seed']}; xsell {m['xsell_commit']}"
        + (" with uncommitted changes in xsell/export" if m.get("xsell_modified") else ""),
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; load average at start "
        f"{', '.join(str(x) for x in m['load_average_at_start'])} (other jobs ran on the machine: p99 includes "
        "their interference)",
        f"- Versions: Python {m['python']}, torch {m['torch']}",
        "",
        "| Format | Threads | Batch 1 p50 (ms) | Batch 1 p99 (ms) | Batch 256 (histories/s) "
        f"| p50 < {results['target_p50_ms']:g} ms |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for t in results["timings"].values():
        met = "yes" if t["p50_ms"] < results["target_p50_ms"] else "**no**"
        lines.append(f"| {t['format']} | {t['threads']} | {t['p50_ms']:.3f} | {t['p99_ms']:.3f} "
                     f"| {t['throughput_per_s_batch_256']:,.0f} | {met} |")
    lines += ["", "Parity with the eager model's top-10 (`eager_topk`: the model on the raw history), at batch "
              "sizes and history lengths other than the export example's (3, 7):", "",
              "| Histories | Format | Rows | Top-10 index mismatches | Max abs score difference |",
              "|---|---|---:|---:|---:|"]
    for part, formats in results["parity"].items():
        for name, r in formats.items():
            lines.append(f"| {part} | {name} | {r['rows']:,} | {r['index_mismatches']} | {r['max_abs_diff']:.2e} |")
    lines += ["", end]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
