"""Full-ranking evaluation at scale: time and peak memory of the shared evaluation path.

    python benchmarks/evaluation_scale.py                  # both cases, then the docs table
    python benchmarks/evaluation_scale.py --cases ml1m     # one case

A dot-product scorer (user vectors ``[U, D]`` against an item table ``[N, D]``, the shape every xsell
model reduces to) is evaluated over batches of targets, each with a 50-item history to exclude, through
the two code paths that training validation and ``xsell.evaluate`` use:

- *metrics*: :func:`xsell.evaluation.protocol.evaluate_scorer` (ranks + running metric sums);
- *rank table*: :func:`xsell.evaluation.table.rank_table` (ranks + the served top-20 list per target).

Each case runs in a fresh process, so its peak RSS is its own. Targets (issue 4): 6,040 users x 3,416
items (MovieLens-1M's shape) scored in well under a second; 1e5 users x 1e6 items in < 4 GB. An
all-users x all-items float32 score matrix would need ``4 * U * N`` bytes (400 GB for the second case).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, markers, update_doc, write_results  # noqa: E402

SECTION = "evaluation_scale"
TITLE = "## Evaluation at scale (issue 4)"
RESULTS = ROOT / "benchmarks" / "results" / "evaluation_scale.json"
CASES = {
    "ml1m": {"users": 6_040, "items": 3_416, "repeats": 5, "targets": {"seconds": 1.0}},
    "1e5x1e6": {"users": 100_000, "items": 1_000_000, "repeats": 1, "targets": {"peak_gb": 4.0},
                "exclude_seen": (True,)},  # minutes per pass: only the (slightly heavier) excluding protocol
}
DIM = 64
HISTORY = 50
TOP_K = 20


def run_case(users: int, items: int, path: str, batch_size: int, exclude_seen: bool, repeats: int = 1,
             seed: int = 0) -> dict[str, Any]:
    """Evaluate a random dot-product scorer ``repeats`` times in this process; time the evaluation loop
    only. The first pass (cold: thread pools and allocator warm up) is reported apart from the median."""
    import torch

    from xsell.data.batch import SequenceBatch
    from xsell.evaluation.protocol import evaluate_scorer
    from xsell.evaluation.table import rank_table

    generator = torch.Generator().manual_seed(seed)
    item_table = torch.randn(items, DIM, generator=generator)  # [N, D]
    user_table = torch.randn(users, DIM, generator=generator)  # [U, D]
    targets = torch.randint(2, items, (users,), generator=generator)  # [U]
    history = torch.randint(2, items, (users, HISTORY), generator=generator)  # [U, H]

    def batches():
        for start in range(0, users, batch_size):
            rows = torch.arange(start, min(start + batch_size, users))
            empty = torch.zeros(len(rows), 1, dtype=torch.long)
            yield SequenceBatch(items=empty, events=empty, time_gaps=empty, users=rows, target=targets[rows],
                                exclude=history[rows], row=rows)

    def score(batch: SequenceBatch) -> torch.Tensor:
        return user_table[batch.users] @ item_table.T  # [B, N]

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        if path == "metrics":
            metrics = evaluate_scorer(score, batches(), ks=(10, 20), exclude_seen=exclude_seen)
        else:
            table = rank_table(score, batches(), k=TOP_K, exclude_seen=exclude_seen)
            metrics = {"rows": table.height}
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times[1:]) if repeats > 1 else times[0]
    return {
        "users": users, "items": items, "dim": DIM, "history": HISTORY, "path": path, "batch_size": batch_size,
        "exclude_seen": exclude_seen, "threads": torch.get_num_threads(), "repeats": repeats,
        "cold_seconds": times[0], "seconds": seconds,
        "users_per_second": users / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_evaluation_mb": rss_before,
        "dense_score_matrix_gb": 4 * users * items / 1e9,
        "ndcg@10": metrics.get("ndcg@10"),
    }


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    m = results["machine"]
    lines = [
        start, "",
        "Random dot-product scorer (64-d user and item vectors), 50-item history per target, full ranking "
        "over the whole catalog, pessimistic ties; each row a fresh process. *Seconds* is the evaluation "
        "loop (scoring + ranking + metrics or top-20 lists) without building the random tables: the median "
        "of the warm passes when the case is repeated, beside the first (cold) pass; *peak RSS* "
        "is the process's (includes the interpreter, torch and the tables). Generated by "
        "`benchmarks/evaluation_scale.py`.",
        "",
        f"- Command: `{results['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, load average at start "
        f"{m['load_average_at_start']}; date {results['date']}",
        f"- xsell {m['xsell_commit']}{' (uncommitted changes)' if m['xsell_modified'] else ''}: "
        f"Python {m['python']}, torch {m['torch']}, polars {m['polars']}",
        "",
        "| case | users x items | path | exclude seen | batch | threads | seconds (cold) | users/s | "
        "peak RSS MB | dense [U, N] would be | target met | load at start | date |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for row in results["runs"]:
        target = CASES[row["case"]]["targets"]
        met = []
        if "seconds" in target:
            met.append(f"< {target['seconds']} s: {'yes' if row['seconds'] < target['seconds'] else 'no'}")
        if "peak_gb" in target:
            ok = row["peak_rss_mb"] * 2**20 < target["peak_gb"] * 1e9
            met.append(f"< {target['peak_gb']} GB: {'yes' if ok else 'no'}")
        lines.append(
            f"| {row['case']} | {row['users']:,} x {row['items']:,} | {row['path']} | "
            f"{'yes' if row['exclude_seen'] else 'no'} | {row['batch_size']} | {row['threads']} | "
            f"{row['seconds']:.3f} ({row['cold_seconds']:.3f}) | {row['users_per_second']:,.0f} | {row['peak_rss_mb']:,.0f} | "
            f"{row['dense_score_matrix_gb']:,.2f} GB | {'; '.join(met)} | "
            f"{row.get('load_average_at_start', float('nan')):.2f} | {row.get('date', '-')[:16]} |")
    lines += ["", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--paths", nargs="*", default=["metrics", "rank_table"], choices=["metrics", "rank_table"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measurement in this fresh process
        case, path, exclude = json.loads(args.child)
        shape = CASES[case]
        load = os.getloadavg()[0]
        row = run_case(shape["users"], shape["items"], path, args.batch_size, exclude, shape["repeats"])
        print(json.dumps({"case": case, **row, "load_average_at_start": load,
                          "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        return

    runs = []
    for case in args.cases:
        for path in args.paths:
            for exclude in CASES[case].get("exclude_seen", (False, True)):
                child = json.dumps([case, path, exclude])
                done = subprocess.run([sys.executable, __file__, "--child", child, "--batch-size",
                                       str(args.batch_size)], capture_output=True, text=True, cwd=ROOT)
                if done.returncode != 0:
                    raise RuntimeError(f"{child} failed:\n{done.stderr[-3000:]}")
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"{case} {path} exclude_seen={exclude}: {runs[-1]['seconds']:.3f} s, "
                      f"peak {runs[-1]['peak_rss_mb']:,.0f} MB", flush=True)
    if RESULTS.exists() and args.cases != list(CASES):  # keep the other cases' rows from the last run
        kept = [row for row in json.loads(RESULTS.read_text())["runs"] if row["case"] not in args.cases]
        runs = sorted(kept + runs, key=lambda row: list(CASES).index(row["case"]))
    results = {
        "command": "python benchmarks/evaluation_scale.py" + ("" if args.cases == list(CASES)
                                                              else " --cases " + " ".join(args.cases)),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_results(RESULTS, results)
    update_doc(SECTION, TITLE, render(results))
    print(render(results))


if __name__ == "__main__":
    main()
