"""Data-pipeline benchmark (issue 2): raw log -> cleaned, split, encoded, padded tensors.

Tasks, each run in a fresh Python process so that import time and peak memory belong to that task alone:

* ``games``: Amazon "Games" (SASRec's ``Video.txt``) read with ``read_sasrec_txt``, then
  ``prepare_split(split="leave_one_out")`` (validate, dedupe, order, split, leakage check), ``encode_split``,
  ``pack_training_windows(max_len=50)`` and ``pack_targets`` for validation and test, wrapped as tensors.
  Target: under 2 s without imports.
* ``ml-100k``: the same on MovieLens 100K (``read_atomic``) with 5-core users and items.
* ``synthetic``: ``synthetic_shop(n_events, seed)`` and the same pipeline. Target: under 60 s and 4 GB peak RSS.

The real-data tasks run ``--repeats`` times (a fresh process each) and report the best and the median; the
synthetic task runs ``--synthetic-repeats`` times. Peak memory is the child's ``ru_maxrss``, read after every
step (it only grows, so the step where it jumps is the one that set the peak). Tensors are zero-copy
``torch.from_numpy`` views of the packed arrays (the ``int64`` copies a ``SequenceDataModule`` makes are not
part of this benchmark).

Usage::

    python benchmarks/data_pipeline.py [--data-dir ../shared/data] [--events 10000000] \
        [--out benchmarks/results/data_pipeline.json]

Writes the JSON results, rewrites the block between ``<!-- data_pipeline:start -->`` and
``<!-- data_pipeline:end -->`` in ``docs/notes/benchmarks.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import DEFAULT_DATA_DIR, ROOT, machine_info, markers, update_doc, write_results  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "data_pipeline.json"
SECTION = "data_pipeline"
START_MARKER, END_MARKER = markers(SECTION)
SECTION_TITLE = "## Data pipeline (issue 2)"
MAX_LEN = 50
GAMES_TARGET_S = 2.0
SYNTHETIC_TARGET_S = 60.0
SYNTHETIC_TARGET_RSS_GB = 4.0  # decimal GB (4e9 bytes = 3,815 MiB), the stricter reading
STEPS = ("load", "prepare_split", "encode_split", "pack_training_windows", "pack_targets_validation",
         "pack_targets_test", "to_tensors")
IMPORTS = ("polars_numpy", "torch", "xsell_data")
STEP_LABELS = {
    "load": "read / generate",
    "prepare_split": "prepare_split",
    "encode_split": "encode_split",
    "pack_training_windows": "pack_training_windows",
    "pack_targets_validation": "pack_targets (validation)",
    "pack_targets_test": "pack_targets (test)",
    "to_tensors": "torch.from_numpy",
}


# ---------------------------------------------------------------------------------------------- child side


def _peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Stopwatch:
    """Records the wall time and the peak RSS after each named step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        """Close step ``name``: record the seconds since the previous lap and the peak RSS so far."""
        now = time.perf_counter()
        self.seconds[name] = now - self._last
        self.peak_rss_mb[name] = _peak_rss_mb()
        self._last = time.perf_counter()


def run_task(task: str, data_dir: Path, n_events: int, seed: int) -> dict[str, Any]:
    """Run one task in this process and return its timings, peak memory and counts."""
    imports = _Stopwatch()
    import numpy as np
    import polars as pl

    imports.lap("polars_numpy")
    import torch

    imports.lap("torch")
    # Whatever xsell.data/__init__.py pulls in (e.g. the Lightning data module) is counted here.
    from xsell.data.pipeline import prepare_split
    from xsell.data.readers import read_atomic, read_sasrec_txt
    from xsell.data.sequences import encode_split, pack_targets, pack_training_windows
    from xsell.data.splits import TEST, TRAIN, VALIDATION
    from xsell.data.synthetic import synthetic_shop

    imports.lap("xsell_data")

    watch = _Stopwatch()
    if task == "games":
        data = read_sasrec_txt(data_dir / "amazon-games" / "Video.txt")
        options: dict[str, Any] = {}
    elif task == "ml-100k":
        data = read_atomic(data_dir / "ml-100k")
        options = {"min_user_events": 5, "min_item_events": 5}
    elif task == "synthetic":
        data = synthetic_shop(n_events=n_events, seed=seed)
        options = {}
    else:
        raise ValueError(f"unknown task {task!r}")
    watch.lap("load")
    split = prepare_split(data, split="leave_one_out", **options)
    watch.lap("prepare_split")
    log = encode_split(split)
    watch.lap("encode_split")
    windows = pack_training_windows(log, MAX_LEN)
    watch.lap("pack_training_windows")
    validation = pack_targets(log, VALIDATION, MAX_LEN)
    watch.lap("pack_targets_validation")
    test = pack_targets(log, TEST, MAX_LEN)
    watch.lap("pack_targets_test")
    tensors = [torch.from_numpy(array) for packed in (windows, validation, test)
               for array in (packed.items, packed.events, packed.time_gaps, packed.users)]
    watch.lap("to_tensors")

    timed = sum(watch.seconds.values())
    packed_bytes = sum(t.element_size() * t.numel() for t in tensors)
    return {
        "task": task,
        "import_s": imports.seconds,
        "seconds": watch.seconds,
        "pipeline_s": timed - watch.seconds["load"],
        "total_s": timed,
        "peak_rss_mb": watch.peak_rss_mb,
        "rss_after_imports_mb": imports.peak_rss_mb["xsell_data"],
        "counts": {
            "raw_events": data.events.height,
            "events": split.events.height,
            "users": int(split.events.get_column("user_id").n_unique()),
            "items": int(split.events.get_column("item_id").n_unique()),
            "item_vocabulary": len(log.item_vocab),
            "training_events": int(np.count_nonzero(log.part == TRAIN)),
            "training_windows": len(windows),
            "validation_targets": len(validation),
            "test_targets": len(test),
            "packed_mb": packed_bytes / 2**20,
        },
        "polars_threads": pl.thread_pool_size(),
    }


# --------------------------------------------------------------------------------------------- parent side


def _spawn(task: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``task`` in a fresh interpreter; returns its result plus the process's whole wall time."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", task, "--data-dir", str(args.data_dir),
               "--events", str(args.events), "--seed", str(args.seed)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"task {task} failed (exit {done.returncode}):\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def _summarise(task: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Best and median over repeated runs of one task (counts must agree across runs)."""
    totals = [run["total_s"] for run in runs]
    counts = runs[0]["counts"]
    if any(run["counts"] != counts for run in runs):
        raise RuntimeError(f"task {task}: counts differ between runs")
    return {
        "task": task,
        "runs": len(runs),
        "best_s": min(totals),
        "median_s": statistics.median(totals),
        "median_pipeline_s": statistics.median(run["pipeline_s"] for run in runs),
        "median_import_s": statistics.median(sum(run["import_s"].values()) for run in runs),
        "median_imports_s": {name: statistics.median(run["import_s"][name] for run in runs)
                             for name in IMPORTS},
        "median_load_s": statistics.median(run["seconds"]["load"] for run in runs),
        "median_steps_s": {step: statistics.median(run["seconds"][step] for run in runs) for step in STEPS},
        "peak_rss_mb": max(run["peak_rss_mb"]["to_tensors"] for run in runs),
        "rss_after_imports_mb": max(run["rss_after_imports_mb"] for run in runs),
        "peak_rss_after_step_mb": {step: max(run["peak_rss_mb"][step] for run in runs) for step in STEPS},
        "counts": counts,
        "per_run": runs,
    }


def _status(value: float, limit: float) -> str:
    return "yes" if value < limit else "**no**"


def _target(name: str, summary: dict[str, Any]) -> str:
    """Whether a task met its target (judged on the median; the synthetic one on generation + pipeline)."""
    if name == "games":
        return f"< {GAMES_TARGET_S:g} s: {_status(summary['median_s'], GAMES_TARGET_S)}"
    if name == "synthetic":
        rss_gb = summary["peak_rss_mb"] * 2**20 / 1e9
        return (f"< {SYNTHETIC_TARGET_S:g} s: {_status(summary['median_s'], SYNTHETIC_TARGET_S)}; "
                f"< {SYNTHETIC_TARGET_RSS_GB:g} GB: {_status(rss_gb, SYNTHETIC_TARGET_RSS_GB)}")
    return "(none)"


def render_markdown(results: dict[str, Any]) -> str:
    """The block that goes between the markers in ``docs/notes/benchmarks.md``."""
    m = results["machine"]
    tasks = results["tasks"]
    lines = [
        START_MARKER,
        "",
        "Raw log to padded training windows and validation/test targets (`max_len=50`, leave-one-out). "
        "Each run is a fresh process. Times are wall seconds without interpreter start and imports "
        "(imports are listed separately); *load* is the reader or `synthetic_shop`, *pipeline* is "
        "`prepare_split` (validate, dedupe, k-core for ml-100k, order, split, leakage check) + `encode_split` + "
        "`pack_training_windows` + `pack_targets` (validation, test) + `torch.from_numpy`. Peak RSS is the "
        "child process's `ru_maxrss` in MiB (imports included). Generated by the command below; "
        "do not edit by hand.",
        "",
        f"- Command: `{results['command']}`",
        f"- Date: {results['date']}; seed {results['seed']}; xsell {m['xsell_commit']}"
        + (" with uncommitted changes in xsell/data" if m.get("xsell_modified", m.get("xsell_data_modified")) else ""),
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; load average at start "
        f"{', '.join(str(x) for x in m['load_average_at_start'])} (the machine is shared, so medians can "
        "include other work)",
        f"- Versions: Python {m['python']}, polars {m['polars']}, numpy {m['numpy']}, torch {m['torch']}",
        "",
        "| Task | Runs | Load (s) | Pipeline (s) | Total best / median (s) | Imports (s) | Peak RSS (MiB) "
        "| Events | Users | Items | Train windows | Val / test targets | Target met (median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, summary in tasks.items():
        if summary.get("skipped"):
            lines.append(f"| {summary['label']} | skipped: {summary['skipped']} |" + " |" * 11)
            continue
        c = summary["counts"]
        imports = sum(summary["median_imports_s"].values())
        lines.append(
            f"| {summary['label']} | {summary['runs']} | {summary['median_load_s']:.2f} "
            f"| {summary['median_pipeline_s']:.2f} | {summary['best_s']:.2f} / {summary['median_s']:.2f} "
            f"| {imports:.2f} | {summary['peak_rss_mb']:,.0f} | {c['events']:,} | {c['users']:,} | {c['items']:,} "
            f"| {c['training_windows']:,} | {c['validation_targets']:,} / {c['test_targets']:,} "
            f"| {_target(name, summary)} |"
        )
    ran = {name: s for name, s in tasks.items() if not s.get("skipped")}
    if ran:
        lines += [
            "",
            "Median seconds per step, with the peak RSS (MiB) reached by the end of the step in brackets "
            "(it only grows, so the step where it jumps set the peak).",
            "",
            "| Step | " + " | ".join(s["label"] for s in ran.values()) + " |",
            "|---|" + "---:|" * len(ran),
        ]
        for label, key in (("import polars + numpy", "polars_numpy"), ("import torch", "torch"),
                           ("import xsell.data", "xsell_data")):
            lines.append(f"| {label} | " + " | ".join(f"{s['median_imports_s'][key]:.2f}" for s in ran.values())
                         + " |")
        lines.append("| RSS after imports | " + " | ".join(f"({s['rss_after_imports_mb']:,.0f})"
                                                         for s in ran.values()) + " |")
        for step in STEPS:
            cells = [f"{s['median_steps_s'][step]:.3f} ({s['peak_rss_after_step_mb'][step]:,.0f})"
                     for s in ran.values()]
            lines.append(f"| {STEP_LABELS[step]} | " + " | ".join(cells) + " |")
    lines += ["", END_MARKER]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="folder with amazon-games/ and ml-100k/ (default: ../shared/data)")
    parser.add_argument("--events", type=int, default=10_000_000, help="synthetic log size")
    parser.add_argument("--seed", type=int, default=0, help="synthetic_shop seed")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each real-data task")
    parser.add_argument("--synthetic-repeats", type=int, default=1, help="runs of the synthetic task")
    parser.add_argument("--tasks", nargs="+", default=["games", "ml-100k", "synthetic"],
                        choices=["games", "ml-100k", "synthetic"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/notes/benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(run_task(args.child, args.data_dir, args.events, args.seed)))
        return 0

    required = {"games": args.data_dir / "amazon-games" / "Video.txt", "ml-100k": args.data_dir / "ml-100k"}
    labels = {"games": "Amazon Games (SASRec Video.txt)", "ml-100k": "MovieLens 100K, 5-core",
              "synthetic": f"synthetic_shop {args.events:,} events"}
    results: dict[str, Any] = {
        "command": shlex.join(["python", *sys.argv]) if argv is None else shlex.join(["python", __file__, *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": args.seed,
        "max_len": MAX_LEN,
        "split": "leave_one_out",
        "machine": machine_info("xsell/data"),
        "targets": {"games_s": GAMES_TARGET_S, "synthetic_s": SYNTHETIC_TARGET_S,
                    "synthetic_peak_rss_gb": SYNTHETIC_TARGET_RSS_GB},
        "tasks": {},
    }
    for task in args.tasks:
        path = required.get(task)
        if path is not None and not path.exists():
            print(f"skipping {task}: {path} not found", file=sys.stderr)
            results["tasks"][task] = {"task": task, "label": labels[task], "skipped": f"{path} not found"}
            continue
        repeats = args.synthetic_repeats if task == "synthetic" else args.repeats
        runs = []
        for i in range(repeats):
            run = _spawn(task, args)
            print(f"{task} run {i + 1}/{repeats}: {run['total_s']:.2f} s (imports "
                  f"{sum(run['import_s'].values()):.2f} s), peak RSS {run['peak_rss_mb']['to_tensors']:,.0f} MiB",
                  file=sys.stderr, flush=True)
            runs.append(run)
        results["tasks"][task] = {"label": labels[task], **_summarise(task, runs)}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.out, results)
    block = render_markdown(results)
    if not args.no_doc:
        update_doc(SECTION, SECTION_TITLE, block)
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
