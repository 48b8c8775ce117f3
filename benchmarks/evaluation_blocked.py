"""Full-ranking evaluation over a large catalog, blocked over items, against the bare matrix product.

    nice -n 10 python benchmarks/evaluation_blocked.py                  # 1e4 users x 1e6 items
    python benchmarks/evaluation_blocked.py --threads 1                 # on a busy machine
    python benchmarks/evaluation_blocked.py --users 2000 --no-doc       # a quicker look

A random dot-product scorer (64-d user and item vectors; every xsell model scores this way) ranks each
user's target among all items with its 50-item history excluded, in one process, three ways:

- *bare product*: ``queries @ items.T``, nothing else: the floor any exact evaluation pays; once as the
  score-matrix path computes it (``[SCORE_ROWS, N]`` at a time) and once in the blocked path's tiles;
- *blocked*: :meth:`RankingEvaluation.update_vectors` (:func:`blocked_target_ranks`: the catalog scored
  ``ITEM_BLOCK`` items at a time, ranks counted per block, no ``[B, N]`` matrix);
- *score matrix*: :func:`evaluate_scorer` with ``score(batch) -> [B, N]`` (``SCORE_ROWS`` rows at a time).

The two evaluations must give the same ranks (checked one by one on the first batch) and metrics; the table shows each time as a multiple of the first bare
product's, measured in the same run. Wall and CPU seconds are both recorded (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, markers, update_doc, write_results  # noqa: E402

from xsell.data.batch import SequenceBatch  # noqa: E402
from xsell.evaluation.blocked import ITEM_BLOCK, blocked_target_ranks  # noqa: E402
from xsell.evaluation.protocol import SCORE_ROWS, RankingEvaluation, evaluate_scorer  # noqa: E402
from xsell.evaluation.ranking import target_ranks  # noqa: E402

SECTION = "evaluation_blocked"
TITLE = "## Full ranking over a million items: blocked over items"
RESULTS = ROOT / "benchmarks" / "results" / "evaluation_blocked.json"
DOC = ROOT / "docs" / "scale.md"
DIM = 64
HISTORY = 50
KS = (10, 20)


def timed(work) -> tuple[Any, float, float]:  # noqa: ANN001
    """``work()``'s result, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(users: int, items: int, batch_size: int, seed: int = 0) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    item_table = torch.randn(items, DIM, generator=generator)  # [N, D]
    targets = torch.randint(2, items, (users,), generator=generator)  # [U]
    # users lean towards their targets, so that targets land anywhere from rank 1 to a few hundred
    user_table = 0.6 * item_table[targets] + torch.randn(users, DIM, generator=generator)  # [U, D]
    history = torch.randint(2, items, (users, HISTORY), generator=generator)  # [U, H]

    def batches():
        for start in range(0, users, batch_size):
            rows = torch.arange(start, min(start + batch_size, users))
            empty = torch.zeros(len(rows), 1, dtype=torch.long)
            yield SequenceBatch(items=empty, events=empty, time_gaps=empty, users=rows, target=targets[rows],
                                exclude=history[rows], row=rows)

    def bare() -> None:  # the product as the score-matrix path computes it
        for start in range(0, users, SCORE_ROWS):
            user_table[start:start + SCORE_ROWS] @ item_table.T  # [rows, N], dropped

    def bare_tiles() -> None:  # the product as the blocked path computes it: tiles that stay in cache
        for start in range(0, users, batch_size):
            queries = user_table[start:start + batch_size]
            for first in range(0, items, ITEM_BLOCK):
                queries @ item_table[first:first + ITEM_BLOCK].T  # [batch, block], dropped

    def blocked() -> dict[str, float]:
        evaluation = RankingEvaluation(KS, exclude_seen=True)
        for batch in batches():
            evaluation.update_vectors(user_table[batch.users], item_table, batch)
        return evaluation.compute()

    def matrix() -> dict[str, float]:
        return evaluate_scorer(lambda batch: user_table[batch.users] @ item_table.T, batches(), ks=KS,
                               exclude_seen=True)

    checked = slice(0, min(users, batch_size))  # ranks of the first batch on both paths, untimed
    exclude = history[checked]
    matrix_ranks = target_ranks(user_table[checked] @ item_table.T, targets[checked], exclude)
    blocked_ranks = blocked_target_ranks(user_table[checked], item_table, targets[checked], exclude)
    _, bare_wall, bare_cpu = timed(bare)
    _, tiles_wall, tiles_cpu = timed(bare_tiles)
    blocked_metrics, blocked_wall, blocked_cpu = timed(blocked)
    matrix_metrics, matrix_wall, matrix_cpu = timed(matrix)
    return {
        "users": users, "items": items, "dim": DIM, "history": HISTORY, "batch_size": batch_size,
        "score_rows": SCORE_ROWS, "item_block": ITEM_BLOCK, "threads": torch.get_num_threads(),
        "bare_product": {"wall_seconds": bare_wall, "cpu_seconds": bare_cpu},
        "bare_product_tiles": {"wall_seconds": tiles_wall, "cpu_seconds": tiles_cpu},
        "blocked": {"wall_seconds": blocked_wall, "cpu_seconds": blocked_cpu, "metrics": blocked_metrics},
        "score_matrix": {"wall_seconds": matrix_wall, "cpu_seconds": matrix_cpu, "metrics": matrix_metrics},
        "ranks_checked": len(matrix_ranks),
        "rank_mismatches": int((matrix_ranks != blocked_ranks).sum()),
        "median_target_rank": float(matrix_ranks.double().median()),
        "largest_metric_difference": max(abs(blocked_metrics[k] - matrix_metrics[k]) for k in matrix_metrics),
    }


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    m, r = results["machine"], results["run"]
    bare = r["bare_product"]
    lines = [
        start, "",
        f"{r['users']:,} users x {r['items']:,} items, {r['dim']}-d random vectors, {r['history']}-item histories "
        f"excluded, full ranking with pessimistic ties, one process, {r['threads']} torch thread(s), evaluation batches "
        f"of {r['batch_size']}; blocked: {r['item_block']} items per block; score matrix: {r['score_rows']} rows "
        "at a time. Generated by `benchmarks/evaluation_blocked.py`.",
        "",
        f"- Command: `{results['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, load average at start "
        f"{m['load_average_at_start']} (shared with other jobs); date {results['date']}",
        f"- xsell {m['xsell_commit']}{' (uncommitted changes)' if m['xsell_modified'] else ''}: Python "
        f"{m['python']}, torch {m['torch']}",
        f"- Metrics of the two evaluation paths differ by at most {r['largest_metric_difference']:.1e} (float64 "
        f"sums over batches of different sizes); ranks of the first {r['ranks_checked']:,} targets "
        f"compared one by one: {r['rank_mismatches']} differ (median target rank {r['median_target_rank']:.0f})",
        "",
        "| path | wall s | x bare product (wall) | CPU s | x bare product (CPU) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (("bare_product", f"bare product, {r['score_rows']} x N at a time"),
                        ("bare_product_tiles", f"bare product, {r['batch_size']} x {r['item_block']} tiles"),
                        ("blocked", "blocked over items"),
                        ("score_matrix", "[rows, N] score matrix")):
        row = r[name]
        lines.append(f"| {label} | {row['wall_seconds']:.1f} | {row['wall_seconds'] / bare['wall_seconds']:.2f}x | "
                     f"{row['cpu_seconds']:.1f} | {row['cpu_seconds'] / bare['cpu_seconds']:.2f}x |")
    lines += ["", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the docs/scale.md block")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info()
    results = {
        "command": shlex.join(["python", "benchmarks/evaluation_blocked.py", *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "run": measure(args.users, args.items, args.batch_size),
    }
    print(json.dumps(results["run"], indent=2))
    if args.no_doc:
        return
    write_results(RESULTS, results)
    update_doc(SECTION, TITLE, render(results), doc=DOC)


if __name__ == "__main__":
    main()
