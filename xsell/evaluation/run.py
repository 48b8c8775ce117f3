"""Evaluate a trained checkpoint or a baseline on a data set configured exactly as for training, and
report (``python -m xsell.evaluate`` wraps :func:`evaluate_run`).

A checkpoint is rebuilt from the ``config.yaml`` of its training run (model, hybrid inputs) and evaluated
on the run's own data unless ``data=...`` names another (``+data.key=value`` changes one key of the run's);
it must match the data's catalog. A baseline (``configs/baselines/``) is fitted on the training part of the
``data=...`` it is given. Both go through the same evaluation path.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from xsell.atomic import write_text_atomic
from xsell.baselines import MostPopular
from xsell.config_checks import check_config
from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.pipeline import build_pipeline
from xsell.data.prepared import PreparedData
from xsell.errors import ConfigError
from xsell.evaluation.blocked import DotProductScorer
from xsell.evaluation.protocol import seen_items_label
from xsell.evaluation.report import EvaluationReport, comparison_table, evaluate
from xsell.runs import RunDir
from xsell.training.builders import build_baseline, instantiate_baseline
from xsell.training.checkpoint import load_checkpoint_model


def fit_baseline(baseline: Any, data: PreparedData) -> Any:
    """``baseline.fit`` on the prepared training events, with the item features where ``fit`` reads them (the
    hybrid's ranker: ``inputs.item_features=[...]``)."""
    if "item_features" in inspect.signature(baseline.fit).parameters:
        return baseline.fit(data.log, item_features=data.item_features)
    return baseline.fit(data.log)


def evaluate_run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate on every part in ``cfg.parts``; write metrics.json, report.md, ranks per part and plots
    of the last part (the model beside the ``cfg.compare`` baselines)."""
    check_config(cfg)
    if not cfg.ckpt and cfg.get("baselines") and not (cfg.get("data") and "_target_" in cfg.data):
        raise ConfigError("baselines=... needs data=...: the data set to fit and evaluate the baseline on "
                          "(synthetic, atomic, sasrec_txt, events; e.g. data=synthetic)")
    output_dir = Path(cfg.paths.output_dir)
    torch.manual_seed(cfg.seed)
    if cfg.ckpt:
        model, datamodule = load_checkpoint_model(cfg.ckpt, cfg.get("data"))  # default: the run's own data
        name = RunDir.of_checkpoint(cfg.ckpt).path.name
        score = DotProductScorer.of_model(model)  # ranked block by block over the catalog
    elif cfg.get("baselines"):
        datamodule = instantiate(cfg.data)
        datamodule.setup()
        scorer = fit_baseline(instantiate_baseline(cfg.baselines, cfg.exclude_seen), datamodule.prepared)
        name = type(scorer).__name__
        score = scorer.score
    else:
        raise ValueError("give ckpt=PATH (a training checkpoint) or baselines=NAME (pop, itemknn, ...)")
    data = datamodule.prepared
    reference = MostPopular().fit(data.log).score if cfg.get("reference") == "pop" else None
    compared = {type(b).__name__: b.fit(data.log) for b in map(build_baseline, cfg.get("compare") or [])}
    compared.pop(name, None)

    metrics: dict[str, Any] = {"name": name, "data": {k: v for k, v in data.summary().items()
                                                      if k != "columns"},
                               "seen_items": seen_items_label(cfg.exclude_seen)}
    plain = None
    if cfg.get("rules"):  # cross-sell rules (configs/rules/) re-rank the scores; the plain model is compared
        rules = build_pipeline(instantiate(cfg.rules), ItemCatalog.of(data))
        plain, score = score, rules.wrap(score, exclude_seen=cfg.exclude_seen)
        metrics["rules"] = rules.describe()
    reports: dict[str, EvaluationReport] = {}
    output_dir.mkdir(parents=True, exist_ok=True)
    options = dict(ks=tuple(cfg.ks), exclude_seen=cfg.exclude_seen, seed=cfg.seed,
                   sampled_negatives=cfg.sampled_negatives, sampled_proposal=cfg.sampled_proposal,
                   batch_size=datamodule.eval_batch_size)
    with torch.no_grad():
        for part in cfg.parts:
            report = evaluate(score, data, baseline=reference, part=part, name=name, **options)
            reports[part] = report
            metrics[part] = report.metrics
            report.table.drop("top_k").write_parquet(output_dir / f"ranks_{part}.parquet")
        last = cfg.parts[-1]
        others = [evaluate(b.score, data, part=last, name=n, **options) for n, b in compared.items()]
        if plain is not None:
            others.insert(0, evaluate(plain, data, part=last, name=f"{name} without rules", **options))
        trigger = None
        if cfg.get("trigger"):  # trigger-point window metrics (configs/trigger/), next to leave-one-out ones
            trigger = instantiate(cfg.trigger).evaluate(score, data, ks=tuple(cfg.ks),
                                                        exclude_seen=cfg.exclude_seen)
            metrics["trigger"] = trigger.metrics
    if others:
        metrics["compare"] = {report.name: {last: report.metrics} for report in others}
    sections = [f"# {name}: {part}\n\n{report.to_markdown()}" for part, report in reports.items()]
    if others:
        sections.append(f"# {name} beside the baselines: {last}, {seen_items_label(cfg.exclude_seen)}\n\n"
                        f"{comparison_table([reports[last], *others])}")
    if trigger is not None:
        sections.append(f"# {name} at trigger points\n\n{trigger.to_markdown()}")
    RunDir(output_dir).save_metrics(metrics)
    write_text_atomic(output_dir / "report.md", "\n\n".join(sections))
    reports[last].plot(output_dir / "plots", *others)
    headline = reports[last].metrics
    print(f"{name} {cfg.parts[-1]}: ndcg@10 {headline.get('ndcg@10', float('nan')):.4f} "
          f"recall@10 {headline.get('recall@10', float('nan')):.4f} -> {output_dir}")
    return metrics
