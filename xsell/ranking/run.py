"""Fit, evaluate and export the hybrid two-stage model (``python -m xsell.rank`` wraps :func:`rank_run`).

The data set is configured exactly as for training and evaluation (``data=sasrec_txt data.path=...``);
``baselines=hybrid`` (``configs/baselines/hybrid.yaml``) is the model. Stage 1 fits on the training part,
the ranker on the validation targets, so only the test part is reported: once, beside the ``compare``
baselines, by the same evaluation code as every model. ``export=true`` writes the two-stage bundle
(:mod:`xsell.ranking.serving`) to ``<output_dir>/bundle``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from xsell.atomic import write_text_atomic
from xsell.baselines import MostPopular
from xsell.config_checks import check_config
from xsell.evaluation.protocol import seen_items_label
from xsell.evaluation.report import comparison_table, evaluate
from xsell.ranking.serving import write_hybrid_bundle
from xsell.runs import RunDir
from xsell.training.builders import build_baseline, instantiate_baseline


def rank_run(cfg: DictConfig) -> dict[str, Any]:
    """Fit the hybrid, evaluate it on test beside ``cfg.compare``, write metrics.json, report.md and (with
    ``cfg.export``) the bundle; returns the metrics."""
    check_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    data = datamodule.prepared
    hybrid = instantiate_baseline(cfg.baselines, cfg.exclude_seen).fit(data.log, item_features=data.item_features)
    options = dict(ks=tuple(cfg.ks), exclude_seen=cfg.exclude_seen, seed=cfg.seed,
                   batch_size=datamodule.eval_batch_size)
    pop = MostPopular().fit(data.log).score
    with torch.no_grad():
        report = evaluate(hybrid.score, data, baseline=pop, part="test", name="hybrid", **options)
        others = [evaluate(b.fit(data.log).score, data, part="test", name=type(b).__name__, **options)
                  for b in map(build_baseline, cfg.compare)]
    metrics: dict[str, Any] = {"name": "hybrid", "seen_items": seen_items_label(cfg.exclude_seen),
                               "data": {k: v for k, v in data.summary().items() if k != "columns"},
                               "ranker": hybrid.fit_report, "test": report.metrics,
                               "compare": {r.name: {"test": r.metrics} for r in others}}
    if cfg.export:
        metrics["bundle"] = str(write_hybrid_bundle(output_dir / "bundle", hybrid, data.item_vocab,
                                                    overwrite=True))
    RunDir(output_dir).save_metrics(metrics)
    write_text_atomic(output_dir / "report.md", f"# hybrid: test\n\n{report.to_markdown()}\n\n"
                      f"# hybrid beside the baselines: test, {seen_items_label(cfg.exclude_seen)}\n\n"
                      f"{comparison_table([report, *others])}")
    print(f"hybrid test: ndcg@10 {report.metrics.get('ndcg@10', float('nan')):.4f} recall@10 "
          f"{report.metrics.get('recall@10', float('nan')):.4f} -> {output_dir}")
    return metrics
