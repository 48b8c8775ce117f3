"""From a training run to a serving bundle: the trained model, the data it was trained on, its config and
metrics in; a verified bundle folder out (see :mod:`xsell.export.bundle`)."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from xsell.config_checks import check_config
from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.pipeline import build_pipeline
from xsell.data.prepared import PreparedData
from xsell.data.schema import ITEM
from xsell.data.sequences import NUM_TIME_GAP_BUCKETS
from xsell.errors import BundleError
from xsell.evaluation.protocol import seen_items_label
from xsell.export import manifest as mf
from xsell.export.bundle import Bundle, load_bundle, write_bundle
from xsell.export.manifest import data_fingerprint, weights_digest
from xsell.export.scorer import TopKScorer
from xsell.export.signing import SIGNATURE, bundle_key
from xsell.runs import RunDir
from xsell.training.checkpoint import load_checkpoint_model


def item_table(data: PreparedData) -> pl.DataFrame:
    """``index`` -> original ``item_id`` (null at padding and unknown), ``train_count`` and every column
    of the data's item table (category, brand, ...), one row per index in index order."""
    vocab = data.item_vocab
    table = pl.DataFrame({
        "index": np.arange(len(vocab), dtype=np.int64),
        ITEM: [None, None, *vocab.ids],
        "train_count": data.log.training_item_counts().astype(np.int64),
    }, schema={"index": pl.Int64, ITEM: pl.String, "train_count": pl.Int64})
    features = data.interactions.items
    if features is None:
        return table
    features = features.with_columns(pl.col(ITEM).cast(pl.String)).unique(ITEM, keep="first", maintain_order=True)
    return table.join(features, on=ITEM, how="left", maintain_order="left")


@dataclass
class ExportPlan:
    """A bundle about to be written: the scorer, its item table and the descriptive manifest entries."""

    scorer: TopKScorer
    items: pl.DataFrame
    manifest: dict[str, Any]


class Exported(NamedTuple):
    """Where a bundle is, and whether this export wrote it (``False``: an identical one was already there)."""

    path: Path
    written: bool


def plan_export(
    model: torch.nn.Module,
    data: PreparedData,
    config: DictConfig,
    *,
    metrics: dict[str, Any] | None = None,
    source: str | None = None,
    rules: Mapping[str, Callable] | None = None,
) -> ExportPlan:
    """The scorer (on a CPU copy of ``model``), item table and manifest entries of an export; arguments as
    in :func:`export_model`. Nothing is written."""
    resolved = OmegaConf.to_container(config, resolve=True)
    inputs = resolved.get("inputs", {})
    exclude_seen = bool(resolved.get("exclude_seen", True))
    eager = copy.deepcopy(model).cpu().eval().requires_grad_(False)
    pipeline = build_pipeline(rules, ItemCatalog.of(data)) if rules else None
    if pipeline is not None and pipeline.left_out():
        warnings.warn(f"rules not compiled into the scorer (apply them after it): {pipeline.left_out()}",
                      stacklevel=3)
    scorer = TopKScorer(eager, data.item_counts(),
                        num_event_types=data.num_event_types if inputs.get("event_types") else 0,
                        num_time_gap_buckets=NUM_TIME_GAP_BUCKETS if inputs.get("time_gaps") else 0,
                        exclude_history=exclude_seen,
                        rules=None if pipeline is None else pipeline.compiled())
    summary = {k: v for k, v in data.summary().items() if k != "columns"}
    manifest = {
        "model": {
            "name": type(model).__name__,
            "class": f"{type(model).__module__}.{type(model).__name__}",
            "objective": getattr(model, "objective", "causal"),
            "num_items": scorer.num_items,
            "max_len": scorer.max_len,
            "dim": int(scorer.catalog.shape[1]),
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "weights_sha256": weights_digest(eager),
        },
        "source_checkpoint": source,
        "config": resolved,
        "data": {**summary, "fingerprint": data_fingerprint(data.log)},
        "metrics": None if metrics is None else {**{part: metrics.get(part) for part in ("val", "test")},
                                                 **{k: v for k, v in metrics.items() if k == "seen_items"}},
        "protocol": {"exclude_seen": exclude_seen, "seen_items": seen_items_label(exclude_seen)},
        "rules": {"compiled": scorer.rules.describe(), "left_out": [] if pipeline is None else pipeline.left_out()},
    }
    return ExportPlan(scorer, item_table(data), manifest)


def export_model(
    model: torch.nn.Module,
    data: PreparedData,
    config: DictConfig,
    out: str | Path,
    *,
    metrics: dict[str, Any] | None = None,
    source: str | None = None,
    overwrite: bool = False,
    rules: Mapping[str, Callable] | None = None,
    key_file: str | Path | None = None,
) -> Path:
    """Write the bundle of a trained model (copied to CPU; the caller's model is untouched).

    Args:
        model: the trained sequence model. data: the data it was trained on (``datamodule.prepared``).
        config: the run's training config (resolved into the manifest; ``inputs`` says which context
            the model reads; ``exclude_seen``, the run's protocol, decides whether the scorer may recommend
            history items: never when the config predates the key). metrics: the run's ``metrics.json``.
        source: the checkpoint the weights came from (recorded). overwrite: replace an existing ``out``.
        rules: cross-sell rule factories (the instantiated ``configs/rules/<name>.yaml``); those that read only
            item tables are compiled into the scorer, the others (event types, whole-list rules) are left
            out with a warning. Both lists are recorded in the manifest.
        key_file: the bundle signing key (default ``$XSELL_BUNDLE_KEY``; see :mod:`xsell.export.signing`).
    """
    plan = plan_export(model, data, config, metrics=metrics, source=source, rules=rules)
    return write_bundle(out, plan.scorer, plan.items, plan.manifest, overwrite=overwrite, key_file=key_file)


def differences(folder: Path, manifest: dict[str, Any], key_file: str | Path | None = None) -> list[str]:
    """What differs between the bundle in ``folder`` and an export about to be written with ``manifest``
    (see :func:`~xsell.export.manifest.export_identity`, plus whether it is signed with the key now set);
    an empty list means the bundle there is that export. A folder that is no verified bundle differs in
    ``"bundle"``."""
    key = bundle_key(key_file)
    try:
        existing = mf.verify(folder, key)
    except BundleError:
        return ["bundle"]
    ours, theirs = mf.export_identity(manifest), mf.export_identity(existing)
    changed = [name for name in ours if ours[name] is None or ours[name] != theirs[name]]
    if (key is not None) != (folder / SIGNATURE).is_file():
        changed.append("signature")
    return changed


def export_checkpoint(ckpt: str | Path, out: str | Path | None = None, *, overwrite: bool = False,
                      rules: Mapping[str, Callable] | None = None, key_file: str | Path | None = None) -> Exported:
    """Export a checkpoint of ``xsell.train``: the model and data are rebuilt from the run's
    ``config.yaml``, metrics come from its ``metrics.json`` when present; ``rules`` and ``key_file`` as in
    :func:`export_model`.

    Where it goes: ``out``, else ``<run>/bundle`` (which training already wrote). A folder that already holds
    this very export (same weights, data, protocol, rules and signing) is kept as it is (``written=False``).
    Without ``out`` another export of the run goes to the first free ``<run>/bundle-2``, ``bundle-3``, ...;
    an ``out`` holding something else is replaced only with ``overwrite`` (an xsell bundle only), which
    always rewrites. Raises ``CheckpointError`` naming the file for a missing or corrupted checkpoint, or one
    that needs pickle to load."""
    path = Path(ckpt)
    run = RunDir.of_checkpoint(path)
    config = run.load_config() if run.config_file.is_file() else OmegaConf.create({"data": {}})
    model, datamodule = load_checkpoint_model(path, config.data)  # checks the checkpoint and config.yaml
    plan = plan_export(model, datamodule.prepared, config, metrics=run.load_metrics(), source=str(path), rules=rules)
    target = Path(out) if out is not None else run.bundle
    if not overwrite:
        for folder in [target] if out is not None else run.bundles():
            if not folder.exists():
                target = folder
                break
            if not differences(folder, plan.manifest, key_file):
                return Exported(folder, written=False)
    written = write_bundle(target, plan.scorer, plan.items, plan.manifest, overwrite=overwrite, key_file=key_file)
    return Exported(written, written=True)


def example_history(data: PreparedData, row: int = 0) -> list[str]:
    """One test user's history as original item ids (oldest first)."""
    items = data.test.items[row]
    return [i for i in data.item_vocab.decode(items[items > 0].tolist()) if i is not None]


def print_example(bundle: Bundle, history: list[str], k: int = 10, console: Console | None = None) -> list:
    """Score one history with the bundle's scorer and print the top ``k`` original item ids."""
    (top,) = bundle.recommend([history], k)
    console = console or Console()
    console.print(f"example history ({len(history)} items, most recent last): ... {' '.join(history[-8:])}")
    table = Table(title=f"{bundle.manifest['model']['name']} bundle: top {k} next items")
    table.add_column("rank", justify="right")
    table.add_column("item_id")
    table.add_column("score", justify="right")
    for rank, (item, score) in enumerate(top, 1):
        table.add_row(str(rank), item, f"{score:.4f}")
    console.print(table)
    console.print(f"bundle verified and loaded from {bundle.path}")
    return top


def export_and_show(model: torch.nn.Module, data: PreparedData, config: DictConfig,
                    out: str | Path, **options: Any) -> Bundle:
    """:func:`export_model`, then load the bundle back (verified) and print one example recommendation."""
    bundle = load_bundle(export_model(model, data, config, out, **options))
    print_example(bundle, example_history(data))
    return bundle


def export_run(cfg: DictConfig) -> Path:
    """``python -m xsell.export``: export ``cfg.ckpt`` (see :func:`export_checkpoint` for where it goes and
    when an existing bundle is kept), reload it verified, print a summary and, when ``cfg.history`` is given,
    its top ``cfg.k`` items."""
    check_config(cfg)
    rules = instantiate(cfg.rules) if cfg.get("rules") else None  # configs/rules/<name>.yaml
    key_file = cfg.get("key_file")
    out, written = export_checkpoint(cfg.ckpt, cfg.out, overwrite=cfg.overwrite, rules=rules, key_file=key_file)
    bundle = load_bundle(out, key_file=key_file)
    console = Console()
    if not written:
        console.print(f"bundle already up to date: {out}", soft_wrap=True)
    else:
        for name, result in bundle.manifest["parity"].items():
            console.print(f"{name}: top-{result['k']} of {result['rows']} histories identical to the eager model: "
                          f"{result['index_mismatches'] == 0}, max score difference {result['max_abs_diff']:.2e}")
        for kind, compiled in bundle.manifest.get("rules", {}).items():  # compiled / left_out
            if compiled:
                console.print(f"cross-sell rules {kind.replace('_', ' ')}: {', '.join(r['rule'] for r in compiled)}")
    if cfg.history:
        print_example(bundle, [str(i) for i in cfg.history], k=cfg.k, console=console)
    if written:
        default = RunDir.of_checkpoint(cfg.ckpt).bundle
        if cfg.out is None and out != default:
            console.print(f"{default} holds another export of this run "
                          f"(different {', '.join(differences(default, bundle.manifest, key_file))}); "
                          f"this one went to a new folder (overwrite=true replaces {default} instead)", soft_wrap=True)
        console.print(f"{bundle.manifest['model']['name']} bundle -> {out}", soft_wrap=True)
    return out
