"""``python -m xsell.train`` / ``xsell-train``: train, evaluate (full ranking) and record a run.

The Hydra entry point only composes the config; :func:`train` does the work and can be called directly
with a config built by ``hydra.compose`` (as the tests do).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from xsell.atomic import write_json_atomic
from xsell.baselines import MostPopular
from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.pipeline import build_pipeline
from xsell.data.datamodule import SequenceDataModule
from xsell.data.sequences import NUM_TIME_GAP_BUCKETS
from xsell.data.vocabulary import Vocabulary
from xsell.evaluation.protocol import evaluate_scorer, seen_items_label
from xsell.training.callbacks import RunStatistics
from xsell.training.warm_start import VOCABULARY_FILE, run_vocabulary, warm_start

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


def build_datamodule(cfg: DictConfig, base_item_vocab: Vocabulary | None = None) -> SequenceDataModule:
    """The data module of ``cfg.data``, with the objective the chosen model trains with, the explicit
    feedback of ``cfg.feedback`` (if any) and, for a warm start, the item vocabulary to grow."""
    objective = getattr(get_class(cfg.model._target_), "objective", "causal")
    extra: dict[str, Any] = {} if base_item_vocab is None else {"base_item_vocab": base_item_vocab}
    if cfg.get("feedback"):
        extra.update(feedback=instantiate(cfg.feedback.source), feedback_per_event=cfg.feedback.per_event)
    datamodule = instantiate(cfg.data, objective=objective, **extra)
    datamodule.setup()
    return datamodule


def build_model(cfg: DictConfig, datamodule: SequenceDataModule) -> torch.nn.Module:
    """``cfg.model`` completed with the sizes only the data knows, and the hybrid inputs switched on."""
    features = datamodule.item_features
    if "_partial_" not in cfg.model:
        raise ValueError(f"model {cfg.model._target_} is a baseline, not a trainable model: "
                         "evaluate it with `python -m xsell.evaluate model=...`")
    return instantiate(cfg.model)(
        num_items=datamodule.num_items,
        max_len=datamodule.max_len,
        num_event_types=datamodule.num_event_types if cfg.inputs.event_types else 0,
        num_time_gap_buckets=NUM_TIME_GAP_BUCKETS if cfg.inputs.time_gaps else 0,
        feature_ids=None if features is None else torch.from_numpy(features.ids),
        feature_specs=() if features is None else features.specs,
        context_specs=datamodule.context_specs,
        user_specs=datamodule.user_specs,
    )


def check_optimized_metric(metric: str, sampled_negatives: int | None) -> None:
    """``optimized_metric`` must name a validation metric the run logs: never a test one, and a sampled one
    only when the module ranks sampled negatives (``module.sampled_negatives``)."""
    stage, _, name = metric.partition("/")
    if stage != "val" or not name:
        raise ValueError(f"optimized_metric={metric}: early stopping, checkpoints and sweeps follow a validation "
                         "metric such as val/ndcg@10 (never tune on test)")
    if name.startswith("sampled_") and not sampled_negatives:
        raise ValueError(f"optimized_metric={metric} is a sampled metric, but module.sampled_negatives is not set: "
                         "add module.sampled_negatives=100")


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, pick the best validation checkpoint, evaluate it on validation and test, write metrics.json."""
    check_optimized_metric(str(cfg.get("optimized_metric") or "val/ndcg@10"), cfg.module.get("sampled_negatives"))
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    init_from = cfg.get("init_from")  # warm start: grow the checkpoint's vocabulary, copy its weights
    base_vocab = run_vocabulary(init_from) if init_from else None
    datamodule = build_datamodule(cfg, base_vocab)
    datamodule.log.item_vocab.save(output_dir / VOCABULARY_FILE)
    model = build_model(cfg, datamodule)
    if init_from:
        warm_start(model, init_from, len(base_vocab), datamodule.num_items)
    loss = instantiate(cfg.loss)
    if cfg.get("feedback"):
        loss = instantiate(cfg.feedback.loss)(loss)
    module = instantiate(cfg.module)(model=model, loss=loss, item_counts=datamodule.item_counts(), seed=cfg.seed)
    statistics = RunStatistics()
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None] + [statistics]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    ckpt_path = best or None
    trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
    trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)

    metrics: dict[str, Any] = {
        "val": module.results.get("val", {}),
        "test": module.results.get("test", {}),
        **statistics.summary(),
        "wall_seconds": time.perf_counter() - start,
        "best_checkpoint": best,
        "data": {k: v for k, v in datamodule.summary().items() if k != "columns"},
        "model": cfg.model._target_,
        "loss": cfg.loss._target_,
        "seen_items": seen_items_label(cfg.module.exclude_seen),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }
    if cfg.get("baseline"):
        popularity = MostPopular().fit(datamodule.log)
        evaluation = dict(ks=tuple(cfg.module.ks), exclude_seen=cfg.module.exclude_seen,
                          sampled_negatives=cfg.module.sampled_negatives,
                          sampled_proposal=cfg.module.get("sampled_proposal", "uniform"),
                          item_counts=datamodule.item_counts(), seed=cfg.seed)
        metrics["baselines"] = {"popularity": {
            "val": evaluate_scorer(popularity.score, datamodule.val_dataloader(), **evaluation),
            "test": evaluate_scorer(popularity.score, datamodule.test_dataloader(), **evaluation),
        }}
    if cfg.get("index"):  # a FAISS index of the best model's item vectors (config: index=flat|hnsw|...)
        instantiate(cfg.index)(model, datamodule.log.item_vocab, seed=cfg.seed).save(output_dir / "index")
        metrics["index"] = str(output_dir / "index")
    rules = instantiate(cfg.rules) if cfg.get("rules") else None  # cross-sell rules (configs/rules/)
    if rules:
        metrics["rules"] = evaluate_with_rules(rules, model, datamodule, ks=tuple(cfg.module.ks),
                                               exclude_seen=cfg.module.exclude_seen)
    write_json_atomic(output_dir / "metrics.json", metrics)
    print_report(metrics, output_dir)
    if cfg.get("export"):  # the serving bundle of the best model, loaded back to score one example history
        from xsell.export.run import export_and_show  # imported here: xsell.export builds on this module

        export_and_show(model, datamodule, cfg, output_dir / "bundle", metrics=metrics, source=best or None,
                        overwrite=True, rules=rules)
    return metrics


def evaluate_with_rules(rules: dict, model: torch.nn.Module, datamodule: SequenceDataModule, **options: Any
                        ) -> dict[str, Any]:
    """Full-ranking validation and test metrics of ``model`` re-ranked by the cross-sell rule factories
    ``rules`` (a CPU copy of the model scores the CPU batches)."""
    pipeline = build_pipeline(rules, ItemCatalog.of(datamodule))
    reranked = pipeline.wrap(copy.deepcopy(model).cpu().eval().score, exclude_seen=options.get("exclude_seen", False))
    return {"pipeline": pipeline.describe(),
            "val": evaluate_scorer(reranked, datamodule.val_dataloader(), **options),
            "test": evaluate_scorer(reranked, datamodule.test_dataloader(), **options)}


def print_report(metrics: dict[str, Any], output_dir: Path) -> None:
    """A table of test metrics, the model beside the popularity baseline."""
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
                  f"peak memory {metrics['peak_memory_mb']:.0f} MB -> {output_dir / 'metrics.json'}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    stage, _, name = str(cfg.get("optimized_metric", "")).partition("/")
    return metrics.get(stage, {}).get(name)


if __name__ == "__main__":
    main()
