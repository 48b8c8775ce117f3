"""A sweep that summarises itself: ``summary.csv`` and ``summary.md`` in the multirun folder.

:class:`SweepSummary` is a Hydra callback (``hydra.callbacks`` in ``configs/train.yaml``). When a multirun ends
it reads every job's ``.hydra/overrides.yaml`` and ``metrics.json`` and writes one row per job (its overrides,
the optimized validation metric, the same metric on test, its wall time and its folder), best first, and names
the best job by the validation metric only: the test column is reported, never used to choose.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from xsell.atomic import write_text_atomic

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"


@dataclass(frozen=True)
class JobRow:
    """One job of a sweep: its number, its command-line overrides, the optimized metric on validation and
    on test (None when the job wrote no metrics.json, e.g. it failed), its wall time and its folder."""

    job: str
    overrides: tuple[str, ...]
    validation: float | None
    test: float | None
    seconds: float | None
    folder: Path


def read_job(folder: Path, metric: str) -> JobRow:
    """The row of the job in ``folder`` for ``metric`` (``val/ndcg@10``: stage, then metric name)."""
    _, _, name = metric.partition("/")
    overrides = tuple(str(o) for o in OmegaConf.load(folder / ".hydra" / "overrides.yaml"))
    metrics_file = folder / "metrics.json"
    metrics: dict[str, Any] = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    return JobRow(job=folder.name, overrides=overrides, validation=metrics.get("val", {}).get(name),
                  test=metrics.get("test", {}).get(name), seconds=metrics.get("wall_seconds"), folder=folder)


def job_sort_key(row: JobRow) -> tuple[float, str]:
    """Best validation value first; jobs without one last; ties by job name (numbers sort numerically)."""
    value = row.validation if row.validation is not None and not math.isnan(row.validation) else -math.inf
    return -value, row.job.zfill(12)


def summarise_sweep(sweep_dir: str | Path, metric: str) -> list[JobRow]:
    """Read every job under ``sweep_dir``, write ``summary.csv`` and ``summary.md`` there (atomically) and
    return the rows, best validation ``metric`` first."""
    sweep_dir = Path(sweep_dir)
    folders = sorted(p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml"))
    rows = sorted((read_job(folder, metric) for folder in folders), key=job_sort_key)
    write_text_atomic(sweep_dir / SUMMARY_CSV, summary_csv(rows, metric))
    write_text_atomic(sweep_dir / SUMMARY_MD, summary_markdown(rows, metric))
    return rows


def shared_overrides(rows: list[JobRow]) -> tuple[str, ...]:
    """The overrides every job has (the sweep's fixed settings), in the first job's order."""
    if not rows:
        return ()
    common = set.intersection(*(set(row.overrides) for row in rows))
    return tuple(o for o in rows[0].overrides if o in common)


def summary_csv(rows: list[JobRow], metric: str) -> str:
    """The rows as CSV (full overrides, full precision); the metric columns are named after ``metric``."""
    _, _, name = metric.partition("/")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["job", "overrides", f"val/{name}", f"test/{name}", "seconds", "folder"])
    for row in rows:
        writer.writerow([row.job, " ".join(row.overrides), _blank_if_none(row.validation), _blank_if_none(row.test),
                         _blank_if_none(row.seconds), str(row.folder)])
    return buffer.getvalue()


def summary_markdown(rows: list[JobRow], metric: str) -> str:
    """A markdown table of the rows (only the overrides that differ between jobs) under a line naming the best
    job, chosen by validation only."""
    _, _, name = metric.partition("/")
    shared = shared_overrides(rows)
    scored = [row for row in rows if row.validation is not None]
    if scored:
        best = scored[0]
        head = (f"Best job: **{best.job}** (`{' '.join(_varying(best, shared)) or 'no varying override'}`), "
                f"val/{name} {best.validation:.4f}, folder `{best.folder}`. "
                "Chosen on validation only; the test column is for reporting.")
    else:
        head = "No job wrote metrics.json."
    lines = [f"# Sweep summary: {len(rows)} jobs, optimized metric {metric}", "", head, ""]
    if shared:
        lines += [f"Every job: `{' '.join(shared)}`.", ""]
    lines += [f"| job | overrides | val/{name} | test/{name} | seconds | folder |", "|---|---|---:|---:|---:|---|"]
    for row in rows:
        seconds = "" if row.seconds is None else f"{row.seconds:.1f}"
        cells = [row.job, " ".join(_varying(row, shared)), _rounded(row.validation), _rounded(row.test), seconds,
                 str(row.folder)]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _varying(row: JobRow, shared: tuple[str, ...]) -> list[str]:
    return [o for o in row.overrides if o not in shared]


def _blank_if_none(value: float | None) -> str:
    return "" if value is None else repr(value)


def _rounded(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


class SweepSummary(Callback):
    """Hydra callback: on multirun end, :func:`summarise_sweep` of the sweep folder and a one-line pointer to
    the best job. ``metric`` is the optimized validation metric (``${optimized_metric}`` in the config)."""

    def __init__(self, metric: str = "val/ndcg@10") -> None:
        self.metric = metric

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        rows = summarise_sweep(sweep_dir, self.metric)
        scored = [row for row in rows if row.validation is not None]
        best = f"; best job {scored[0].job} ({self.metric} {scored[0].validation:.4f})" if scored else ""
        print(f"sweep summary: {sweep_dir / SUMMARY_MD}{best}")
