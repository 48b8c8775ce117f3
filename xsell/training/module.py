"""``NextItemModule``: one LightningModule for every next-item model and loss.

Training reads the model's output at every labelled position; validation and test rank the target
against the whole catalog (full ranking) with the same code as standalone evaluation, and log
``val/ndcg@10``-style metrics that early stopping and checkpointing monitor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xsell.data.batch import SequenceBatch
from xsell.evaluation.protocol import RankingEvaluation
from xsell.nn.losses import FullSoftmaxCE, NextItemLoss
from xsell.training.quiet import silence_lightning_noise

silence_lightning_noise()


def warmup_cosine(step: int, total: int, warmup: int, floor: float) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``floor``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def future_targets(labels: Tensor, window: int, decay: float) -> tuple[Tensor, Tensor]:
    """Next-item labels ``[B, L]`` -> the labels of the next ``window`` events ``[B, L, W]`` and their weights.

    In causal training ``labels[:, t]`` is the event after position ``t``, so ``labels[:, t + w]`` is the event
    ``w + 1`` steps after it (still inside the same training window: nothing beyond it is used). Weights are
    ``decay ** w`` over the labels that exist (padding gets 0), normalised to sum to 1 per position.
    """
    future = F.pad(labels, (0, window - 1)).unfold(1, window, 1)  # [B, L, W]
    steps = torch.arange(window, device=labels.device, dtype=torch.float32)
    weights = decay**steps * (future > 0)  # [B, L, W]
    return future, weights / weights.sum(-1, keepdim=True).clamp(min=1e-12)


class NextItemModule(pl.LightningModule):
    """Wraps a model with the ``sequence_output`` / ``encode`` / ``item_embeddings`` interface.

    Args:
        model: any :class:`xsell.models.base.SequenceModel`.
        loss: a :class:`xsell.nn.losses.NextItemLoss` (full-softmax CE by default).
        optimizer: a partial taking the parameters (default AdamW, lr 1e-3, weight decay 0.01).
        warmup_fraction / min_lr_ratio: warm-up + cosine schedule over all training steps (None: constant).
        ks: cut-offs of the logged metrics. exclude_seen: drop history items from the ranking (and from the
            sampled negatives), as the exported scorer does.
        sampled_negatives: also log ``sampled_*`` metrics against this many uniform negatives (opt-in), or
            ``sampled_pop_*`` ones with ``sampled_proposal="popularity"`` (drawn by ``item_counts``).
        future_targets / future_decay: train each position of a causal model to predict the next
            ``future_targets`` events of its window, weighted ``future_decay ** steps`` (a dense "all action"
            target, PinnerFormer, Pancha et al. 2022); 1 = next item only. Evaluation is unchanged (next item).
    """

    def __init__(
        self,
        model: nn.Module,
        loss: NextItemLoss | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        warmup_fraction: float | None = 0.05,
        min_lr_ratio: float = 0.0,
        ks: Sequence[int] = (10, 20),
        exclude_seen: bool = True,
        sampled_negatives: int | None = None,
        sampled_proposal: str = "uniform",
        item_counts: Tensor | None = None,
        seed: int = 0,
        future_targets: int = 1,
        future_decay: float = 1.0,
    ) -> None:
        super().__init__()
        if future_targets < 1 or not 0.0 < future_decay <= 1.0:
            raise ValueError(f"future_targets must be >= 1 and future_decay in (0, 1], got {future_targets} "
                             f"and {future_decay}")
        self.model = model
        self.loss = loss or FullSoftmaxCE()
        if item_counts is not None:
            self.loss.prepare(item_counts)
        self.optimizer_factory = optimizer
        self.warmup_fraction = warmup_fraction
        self.min_lr_ratio = min_lr_ratio
        self.ks = tuple(ks)
        self.exclude_seen = exclude_seen
        self.sampled_negatives = sampled_negatives
        self.sampled_proposal = sampled_proposal
        self.item_counts = item_counts
        self.seed = seed
        self.future_targets, self.future_decay = future_targets, future_decay
        if future_targets > 1:
            if getattr(model, "objective", "causal") != "causal":
                raise ValueError(f"future_targets={future_targets} needs a causal model; {type(model).__name__} "
                                 f"trains on {model.objective!r} batches")
            if not self.loss.supports_soft_targets:
                raise ValueError(f"future_targets={future_targets} needs a loss with soft targets (FullSoftmaxCE); "
                                 f"{type(self.loss).__name__} takes one label per position")
        self.evaluations: dict[str, RankingEvaluation] = {}
        self.results: dict[str, dict[str, float]] = {}

    # -- training ----------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        # Again for each fit / validate / test: a caller's (or pytest's) warnings context may have reset the
        # filters since import, and Lightning wraps the data loaders after this hook.
        silence_lightning_noise()

    def training_step(self, batch: SequenceBatch, batch_idx: int) -> Tensor:
        hidden = self.model.sequence_output(batch.items, batch.events, batch.time_gaps, batch.context,
                                            batch.user_features)  # [B, L, D]
        labelled = batch.labels > 0  # [B, L]
        extra = {}  # the loss's optional inputs: explicit feedback, soft-target weights
        if getattr(self.loss, "uses_feedback", False):
            if batch.feedback_items is None:
                raise ValueError(f"{type(self.loss).__name__} needs explicit feedback, but the training batches "
                                 "carry none: give the data module a feedback table")
            extra = dict(feedback_items=batch.feedback_items[labelled],  # [M, K]
                         feedback_helpful=batch.feedback_helpful[labelled])
        if self.future_targets > 1:
            labels, weights = future_targets(batch.labels, self.future_targets, self.future_decay)  # [B, L, W]
            extra["weights"] = weights[labelled]  # [M, W]
            labels = labels[labelled]  # [M, W]
        else:
            labels = batch.labels[labelled]  # [M]
        loss = self.loss(hidden[labelled], labels, self.model.item_embeddings(), **extra)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch))
        return loss

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            optimizer = torch.optim.AdamW(self.parameters(), lr=1e-3, weight_decay=0.01)
        else:
            optimizer = self.optimizer_factory(self.parameters())
        if self.warmup_fraction is None:
            return optimizer
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(self.warmup_fraction * total)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, total, warmup, self.min_lr_ratio)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # -- evaluation --------------------------------------------------------------------------------
    def _evaluation(self, stage: str) -> RankingEvaluation:
        if stage not in self.evaluations:
            self.evaluations[stage] = RankingEvaluation(
                self.ks, exclude_seen=self.exclude_seen, sampled_negatives=self.sampled_negatives,
                sampled_proposal=self.sampled_proposal, item_counts=self.item_counts,
                seed=self.seed + self.global_rank,  # each process draws its own sampled negatives
            )
        return self.evaluations[stage]

    def _start(self, stage: str) -> None:
        self._evaluation(stage).reset()

    def _step(self, batch: SequenceBatch, stage: str) -> None:
        # the model scores by a dot product (``score``): rank block by block over the catalog, no [B, N] scores
        self._evaluation(stage).update_vectors(self.model.encode(batch), self.model.item_embeddings(), batch)

    def _finish(self, stage: str) -> None:
        evaluation = self._evaluation(stage)
        if self.trainer.world_size > 1:  # each process ranked its share of the targets
            evaluation.sum_over_processes(
                lambda totals: self.trainer.strategy.reduce(totals.to(self.device), reduce_op="sum"))
        metrics = evaluation.compute()
        self.results[stage] = metrics
        for name, value in metrics.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "ndcg@10", sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self._start("val")

    def validation_step(self, batch: SequenceBatch, batch_idx: int) -> None:
        self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._finish("val")

    def on_test_epoch_start(self) -> None:
        self._start("test")

    def test_step(self, batch: SequenceBatch, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._finish("test")
