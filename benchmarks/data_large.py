"""Logs larger than memory: a synthetic log written as parquet shards, prepared on disk with bounded memory.

Two steps, each in a fresh Python process whose peak RSS (``ru_maxrss``, imports included) is its own:

* ``generate``: ``synthetic_shop`` in chunks of ``--generate-chunk`` events (a new seed and user-id prefix per
  chunk, so users do not repeat across chunks), each chunk sorted by time (as a log is written) and saved as
  one shard ``part-NNNNN.parquet`` under ``SCRATCH/shards``. Skipped when the shards of the same size and
  seed are already there.
* ``prepare``: ``scan_event_shards`` + ``prepare_on_disk`` (leave-one-out, ``max_len=50``, causal windows)
  into ``SCRATCH/prepared``, then ``open_prepared`` and one read of 100 random training windows.

Target: peak RSS of ``prepare`` under 8 GB (decimal) for 1e8 events on a 2-core, 24 GB machine.

Usage::

    python benchmarks/data_large.py [--events 100000000] [--scratch /tmp/xsell-data-large] \
        [--out benchmarks/results/data_large.json]

The scratch folder (per 1e8 events about 0.7 GB of shards and 4.2 GB of prepared arrays) is left for reruns.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, write_results  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "data_large.json"
MAX_LEN = 50
TARGET_RSS_GB = 8.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(folder: Path, n_events: int, chunk: int, seed: int) -> dict[str, Any]:
    """Write ``n_events`` synthetic events as shards of ``chunk`` events (the last may be smaller)."""
    import polars as pl

    from xsell.data.synthetic import synthetic_shop

    marker = folder / "shards.json"
    wanted = {"events": n_events, "chunk": chunk, "seed": seed}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return {"skipped": "shards already written", "seconds": 0.0, "peak_rss_mb": _peak_rss_mb()}
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    written = 0
    for k in range(0, -(-n_events // chunk)):
        size = min(chunk, n_events - written)
        events = synthetic_shop(n_events=size, seed=seed + k).events.select(
            (pl.lit(f"c{k:03d}-") + pl.col("user_id")).alias("user_id"), "item_id", "timestamp", "event",
        )
        events.sort("timestamp", maintain_order=True).write_parquet(folder / f"part-{k:05d}.parquet")
        written += size
        del events
    marker.write_text(json.dumps(wanted))
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb(),
            "shards": len(list(folder.glob("*.parquet"))),
            "bytes": sum(p.stat().st_size for p in folder.glob("*.parquet"))}


def prepare(shards: Path, out: Path, chunk_events: int) -> dict[str, Any]:
    """Scan the shards and prepare them on disk; then map the result and read one batch of windows."""
    import numpy as np

    from xsell.data.on_disk import PrepareOptions, open_prepared, prepare_on_disk
    from xsell.data.readers import scan_event_shards

    imported = _peak_rss_mb()
    started = time.perf_counter()
    events = scan_event_shards(shards)
    scanned = time.perf_counter()
    prepared = prepare_on_disk(events, out, PrepareOptions(max_len=MAX_LEN), source=str(shards),
                               chunk_events=chunk_events)
    done = time.perf_counter()
    peak_prepare = _peak_rss_mb()
    reopened = open_prepared(out)
    rows = np.sort(np.random.default_rng(0).choice(len(reopened.windows.users), 100, replace=False))
    batch = np.asarray(reopened.windows.items[rows], dtype=np.int64)
    return {
        "scan_and_check_s": scanned - started,
        "prepare_s": done - scanned,
        "total_s": done - started,
        "rss_after_imports_mb": imported,
        "peak_rss_mb": peak_prepare,
        "peak_rss_after_read_mb": _peak_rss_mb(),
        "read_batch_shape": list(batch.shape),
        "counts": prepared.manifest["counts"],
        "prepared_bytes": sum(p.stat().st_size for p in out.iterdir()),
    }


def _spawn(step: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--events", str(args.events),
               "--scratch", str(args.scratch), "--generate-chunk", str(args.generate_chunk),
               "--chunk-events", str(args.chunk_events), "--seed", str(args.seed)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{step} failed (exit {done.returncode}):\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000, help="synthetic log size")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/xsell-data-large"),
                        help="folder for the shards and the prepared arrays (outside the repository)")
    parser.add_argument("--generate-chunk", type=int, default=10_000_000, help="events per generated shard")
    parser.add_argument("--chunk-events", type=int, default=5_000_000, help="prepare_on_disk's chunk_events")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shards = args.scratch / f"shards-{args.events}"
    if args.child == "generate":
        print(json.dumps(generate(shards, args.events, args.generate_chunk, args.seed)))
        return 0
    if args.child == "prepare":
        print(json.dumps(prepare(shards, args.scratch / f"prepared-{args.events}", args.chunk_events)))
        return 0

    results: dict[str, Any] = {
        "command": shlex.join(["python", *sys.argv]) if argv is None else shlex.join(["python", __file__, *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "events": args.events, "seed": args.seed, "max_len": MAX_LEN, "split": "leave_one_out",
        "chunk_events": args.chunk_events, "generate_chunk": args.generate_chunk,
        "machine": machine_info("xsell/data"),
        "target_peak_rss_gb": TARGET_RSS_GB,
    }
    results["generate"] = _spawn("generate", args)
    print(f"generate: {results['generate']}", file=sys.stderr, flush=True)
    results["prepare"] = _spawn("prepare", args)
    peak_gb = results["prepare"]["peak_rss_mb"] * 2**20 / 1e9
    results["prepare"]["peak_rss_gb"] = peak_gb
    results["target_met"] = peak_gb < TARGET_RSS_GB
    print(json.dumps(results["prepare"], indent=2), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
