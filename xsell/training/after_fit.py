"""What a training run does after fit/validate/test, one small step each, listed in ``train.yaml``
(``after_fit:``) and run in order by :func:`xsell.training.fitting.train`.

Every step takes a :class:`FitContext` and may add to its ``metrics`` (written once, after all steps).
A step whose switch is off in the config (``baseline``, ``index``, ``rules``, ``export``) does nothing;
``after_fit.<name>=null`` drops a step altogether.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from xsell.baselines import MostPopular
from xsell.crosssell.evaluation import evaluate_with_rules
from xsell.data.datasets import evaluation_batches
from xsell.data.prepared import PreparedData
from xsell.evaluation.protocol import evaluate_scorer
from xsell.export.run import export_and_show
from xsell.runs import RunDir


@dataclass
class FitContext:
    """A finished fit: the config, the best model (loaded), its prepared data, the run folder, the metrics so
    far, and the targets scored at once by the steps that evaluate."""

    cfg: DictConfig
    model: torch.nn.Module
    data: PreparedData
    run: RunDir
    metrics: dict[str, Any]
    best_checkpoint: str | None = None
    eval_batch_size: int = 128

    @cached_property
    def rules(self) -> dict | None:
        """The cross-sell rule factories of ``cfg.rules`` (``configs/rules/``), or ``None``."""
        return instantiate(self.cfg.rules) if self.cfg.get("rules") else None


def compare_popularity(ctx: FitContext) -> None:
    """With ``baseline=true``: the popularity baseline on the same validation and test targets."""
    if not ctx.cfg.get("baseline"):
        return
    module, data = ctx.cfg.module, ctx.data
    popularity = MostPopular().fit(data.log)
    evaluation = dict(ks=tuple(module.ks), exclude_seen=module.exclude_seen,
                      sampled_negatives=module.sampled_negatives,
                      sampled_proposal=module.get("sampled_proposal", "uniform"),
                      item_counts=data.item_counts(), seed=ctx.cfg.seed)
    ctx.metrics["baselines"] = {"popularity": {
        part: evaluate_scorer(popularity.score, evaluation_batches(data, part, ctx.eval_batch_size), **evaluation)
        for part in ("val", "test")
    }}


def save_index(ctx: FitContext) -> None:
    """With ``index=flat|hnsw|...``: a FAISS index of the best model's item vectors in ``<run>/index``."""
    if not ctx.cfg.get("index"):
        return
    instantiate(ctx.cfg.index)(ctx.model, ctx.data.item_vocab, seed=ctx.cfg.seed).save(ctx.run.index)
    ctx.metrics["index"] = str(ctx.run.index)


def evaluate_rules(ctx: FitContext) -> None:
    """With ``rules=<name>``: validation and test metrics of the model re-ranked by the cross-sell rules."""
    if ctx.rules:
        ctx.metrics["rules"] = evaluate_with_rules(ctx.rules, ctx.model, ctx.data, batch_size=ctx.eval_batch_size,
                                                   ks=tuple(ctx.cfg.module.ks), exclude_seen=ctx.cfg.module.exclude_seen)


def print_report(ctx: FitContext) -> None:
    """A table of test metrics, the model beside the popularity baseline, and the run's cost."""
    metrics = ctx.metrics
    model = metrics["model"].rsplit(".", 1)[-1]
    table = Table(title=f"test metrics (full ranking, {metrics['seen_items']}) - {model}")
    table.add_column("metric")
    table.add_column("model", justify="right")
    baseline = metrics.get("baselines", {}).get("popularity", {}).get("test", {})
    if baseline:
        table.add_column("popularity", justify="right")
        table.add_column("lift", justify="right")
    for name in ("ndcg@10", "recall@10", "mrr@10", "ndcg@20", "recall@20", "sampled_hit@10", "sampled_ndcg@10",
                 "sampled_pop_hit@10", "sampled_pop_ndcg@10"):
        if name not in metrics["test"]:
            continue
        value = metrics["test"][name]
        row = [name, f"{value:.4f}"]
        if baseline:
            row += [f"{baseline[name]:.4f}", f"{value / baseline[name]:.2f}x" if baseline[name] else "-"]
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(f"epochs {metrics['epochs']}, {metrics['train_seconds']:.1f} s training, "
                  f"{metrics['train_sequences_per_second']:.0f} sequences/s, "
                  f"peak memory {metrics['peak_memory_mb']:.0f} MB -> {ctx.run.metrics_file}")


def export_bundle(ctx: FitContext) -> None:
    """With ``export=true``: the serving bundle of the best model in ``<run>/bundle``, loaded back (verified)
    to score one example history; item-table rules of ``rules=<name>`` are compiled into it."""
    if ctx.cfg.get("export"):
        export_and_show(ctx.model, ctx.data, ctx.cfg, ctx.run.bundle, metrics=ctx.metrics,
                        source=ctx.best_checkpoint, overwrite=True, rules=ctx.rules)
