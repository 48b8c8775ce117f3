"""Scheduled retraining with a champion/challenger check (``python -m xsell.retrain`` wraps :func:`retrain`).

Given the serving model (a bundle written by ``xsell.export``/``xsell.train``, or a checkpoint of
``xsell.train``) and a fresh event log (``data``), it

1. splits the log in time (``configs/retrain.yaml``: a temporal split whose newest slice, at and after
   ``data.cutoff``, is the comparison set and is never trained on; ``[validation_cutoff, cutoff)`` picks
   the candidate's best epoch);
2. trains the *candidate* warm-started from the serving checkpoint (``init_from``), its item vocabulary
   grown with the log's new items (:mod:`xsell.training.warm_start`);
3. ranks the comparison targets with both models (full ranking, :func:`xsell.evaluation.table.rank_table`):
   the serving model as it would serve, i.e. items it does not know are unknown in histories and cannot be
   recommended;
4. compares them with the paired sign-flip test (:func:`xsell.evaluation.comparison.paired_comparison`) and
   replaces the bundle (atomically, with its parity self-check) only when the candidate's mean ``metric`` is
   higher by more than ``decision.margin`` with ``p < decision.alpha``;
5. writes ``decision.json`` and ``decision.md`` in the run folder.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console
from torch import Tensor, nn

from xsell.atomic import write_json_atomic, write_text_atomic
from xsell.config_checks import check_config
from xsell.data.batch import SequenceBatch
from xsell.data.schema import UNKNOWN_INDEX
from xsell.errors import CheckpointError, ConfigError
from xsell.evaluation.comparison import paired_comparison
from xsell.evaluation.table import rank_table
from xsell.export import manifest as mf
from xsell.export.bundle import load_bundle
from xsell.export.run import export_model
from xsell.runs import RunDir
from xsell.stats import PairedComparison
from xsell.training.builders import build_model
from xsell.training.checkpoint import load_checkpoint_model
from xsell.training.fitting import train
from xsell.training.warm_start import run_vocabulary, warm_start


@dataclass
class KnownItemsScorer:
    """Scores as a model trained on the first ``known`` item indices serves them on a grown catalog:
    history items at or past ``known`` are unknown to it, and it never recommends them."""

    model: nn.Module
    known: int

    @torch.no_grad()
    def __call__(self, batch: SequenceBatch) -> Tensor:
        items = batch.items.masked_fill(batch.items >= self.known, UNKNOWN_INDEX)  # [B, L]
        scores = self.model.score(replace(batch, items=items))  # [B, N]
        scores[:, self.known:] = float("-inf")
        return scores


def serving_checkpoint(serving: str | Path) -> tuple[Path, Path | None]:
    """``(checkpoint, bundle)`` of the serving model: a bundle folder (verified) names its source checkpoint,
    followed only inside the run folder that holds the bundle (``<run>/bundle``); a checkpoint file has no
    bundle. Raises ``CheckpointError`` / ``BundleError`` naming the path."""
    path = Path(serving)
    if path.is_dir():
        bundle = load_bundle(path)
        source = bundle.manifest.get("source_checkpoint")
        if not source or not Path(source).is_file():
            raise CheckpointError(f"bundle {path / mf.MANIFEST} names no existing source checkpoint ({source!r}); "
                                  "retrain from the checkpoint instead")
        run = RunDir(path.resolve().parent)
        if not run.config_file.is_file() or not Path(source).resolve().is_relative_to(run.path):
            raise CheckpointError(f"bundle {path / mf.MANIFEST} names source checkpoint {source}, outside the run "
                                  f"folder that holds the bundle ({run.path}): not followed; give it explicitly "
                                  f"(serving=CHECKPOINT bundle={path})")
        return Path(source), path
    if not path.is_file():
        raise CheckpointError(f"serving model not found: {path} (a bundle folder or a checkpoint file)")
    return path, None


def retrain(cfg: DictConfig) -> dict[str, Any]:
    """Train the warm-started candidate, compare it with the serving model, replace the bundle if it wins."""
    check_config(cfg)
    if cfg.get("resume"):
        raise ConfigError(f"resume={cfg.resume} is for xsell.train; a stopped retraining starts again")
    out = Path(cfg.paths.output_dir)
    serving_ckpt, serving_bundle = serving_checkpoint(cfg.serving)
    bundle_path = Path(cfg.bundle) if cfg.get("bundle") else serving_bundle or RunDir(out).bundle
    old_items = len(run_vocabulary(serving_ckpt))

    candidate_cfg = copy.deepcopy(cfg)
    OmegaConf.set_struct(candidate_cfg, False)
    candidate_cfg.paths.output_dir = str(out / "candidate")
    candidate_cfg.init_from = str(serving_ckpt)
    candidate_cfg.export = False
    metrics = train(candidate_cfg)
    if rank_zero_only.rank != 0:  # trained by several processes: rank 0 alone compares and writes
        return {}
    candidate_ckpt = metrics["best_checkpoint"] or str(RunDir(candidate_cfg.paths.output_dir).last_checkpoint)
    candidate, datamodule = load_checkpoint_model(candidate_ckpt, candidate_cfg.data)
    data = datamodule.prepared
    serving = warm_start(build_model(candidate_cfg, data), serving_ckpt, old_items, data.num_items).eval()

    decision = cfg.decision
    k = max(cfg.module.ks)
    with torch.no_grad():
        tables = {name: rank_table(score, datamodule.test_dataloader(), k=k, exclude_seen=cfg.module.exclude_seen)
                  for name, score in (("candidate", candidate.score),
                                      ("serving", KnownItemsScorer(serving, old_items)))}
    comparison = paired_comparison(tables["candidate"], tables["serving"], decision.metric,
                                   n_permutations=decision.n_permutations, seed=cfg.seed)
    better = decide(comparison, decision.margin, decision.alpha)
    if better:  # the serving rules of the config (configs/rules/) compile into the new bundle, as in xsell.train
        rules = instantiate(cfg.rules) if cfg.get("rules") else None
        export_model(candidate, data, candidate_cfg, bundle_path, metrics=metrics, source=candidate_ckpt,
                     overwrite=True, rules=rules)
    report = {
        "replaced": bool(better),
        "bundle": str(bundle_path),
        "serving": {"checkpoint": str(serving_ckpt), "bundle": None if serving_bundle is None else str(serving_bundle),
                    "items": old_items},
        "candidate": {"checkpoint": candidate_ckpt, "items": data.num_items,
                      "new_items": data.num_items - old_items},
        "rule": {"metric": decision.metric, "margin": decision.margin, "alpha": decision.alpha},
        "comparison": comparison.to_dict(),
        "comparison_set": {"protocol": data.split.protocol, "cutoff": data.split.cutoff,
                           "validation_cutoff": data.split.validation_cutoff,
                           "targets": tables["candidate"].height},
    }
    write_json_atomic(out / "decision.json", report)
    write_text_atomic(out / "decision.md", render_decision(report))
    Console().print(render_decision(report))
    return report


def decide(comparison: PairedComparison, margin: float, alpha: float) -> bool:
    """Replace the serving model when the candidate (run ``a``) beats it by more than ``margin`` with ``p < alpha``."""
    return bool(comparison.difference > margin and comparison.p_value < alpha)


def render_decision(report: dict[str, Any]) -> str:
    """The decision report as markdown."""
    c, rule = report["comparison"], report["rule"]
    verdict = "replaced" if report["replaced"] else "kept the serving model"
    return "\n".join([
        f"# Retraining decision: {verdict}",
        "",
        f"- serving: `{report['serving']['checkpoint']}` ({report['serving']['items']} item indices)",
        f"- candidate: `{report['candidate']['checkpoint']}` ({report['candidate']['new_items']} new items)",
        f"- comparison set: {report['comparison_set']['targets']} targets of the {report['comparison_set']['protocol']}"
        f" split at and after {report['comparison_set']['cutoff']} (never trained on)",
        f"- rule: replace when candidate - serving {rule['metric']} > {rule['margin']} and p < {rule['alpha']}",
        "",
        "| metric | candidate | serving | difference | 95% CI | p-value |",
        "|---|---|---|---|---|---|",
        f"| {c['metric']} | {c['mean_a']:.4f} | {c['mean_b']:.4f} | {c['difference']:+.4f} | "
        f"[{c['low']:+.4f}, {c['high']:+.4f}] | {c['p_value']:.4f} |",
        "",
        f"Bundle: `{report['bundle']}` {'(written)' if report['replaced'] else '(untouched)'}",
        "",
    ])
