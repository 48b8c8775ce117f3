"""Lightning DataModule: a data set in, padded ``SequenceBatch``es out, for causal or Cloze training.

``setup`` runs :func:`xsell.data.prepared.prepare` once and keeps the value as ``datamodule.prepared``; the
module itself only wraps it in data sets (:mod:`xsell.data.datasets`) and loaders that share the work
between data-parallel processes. Batches are cut from the pre-packed arrays by fancy indexing (a batch
sampler hands the data set a whole list of indices), so there is no per-sample Python work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import polars as pl
import pytorch_lightning as pl_lightning
from pytorch_lightning.trainer.states import TrainerFn, TrainerStatus
from torch.utils.data import DataLoader

from xsell.data.datasets import (
    EvaluationTargets,
    TrainingWindows,
    evaluation_targets,
    target_loader,
    training_windows,
)
from xsell.data.interactions import Interactions
from xsell.data.pipeline import SplitName
from xsell.data.prepared import Objective, PreparedData, check_objective, prepare
from xsell.data.sampler import LengthGroupedBatchSampler, ResumableDataLoader
from xsell.data.schema import EventTypes
from xsell.data.vocabulary import Vocabulary

__all__ = ["CLOZE_COPIES", "EvaluationTargets", "SequenceDataModule", "TrainingWindows"]  # the data sets it wraps load from here too

# Cloze training labels only the masked fifth of a window's positions, so each window enters an epoch this many
# times, masked anew each time (the BERT4Rec paper's ``dupe_factor``): without it a small log (ML-100K, 943 users)
# gives a few dozen steps per epoch and BERT4Rec stays at popularity for its first epochs.
CLOZE_COPIES = 10


class SequenceDataModule(pl_lightning.LightningDataModule):
    """Training windows and evaluation targets of a data set, as Lightning loaders.

    Args:
        source: an ``Interactions`` or a zero-argument callable returning one (e.g. a Hydra partial).
        path: the file or folder the source reads (configs pass it on to the reader; kept for the data card).
        batch_size / eval_batch_size: training windows / evaluation targets per batch (per process).
        mask_prob: Cloze masking probability.
        mask_last_prob: Cloze only: share of training rows that hide only their last item (BERT4Rec paper).
        cloze_copies: Cloze only: times each training window enters an epoch, masked anew each time (the BERT4Rec
            paper's ``dupe_factor``); causal windows enter once.
        num_workers: loader worker processes. seed: seeds the training order and the Cloze masks.
        split / max_len / objective / window_stride / item_features / catalog_items / base_item_vocab /
            feedback / feedback_per_event / token_hash_buckets / context_features / user_features / segments /
            event_types / min_user_events / min_item_events / drop_duplicates / session_gap_seconds / cutoff /
            validation_cutoff / held_out_fraction: how the data is prepared, passed to :func:`xsell.data.prepared.prepare`.
    """

    def __init__(
        self,
        source: Interactions | Callable[[], Interactions],
        *,
        path: str | None = None,
        split: SplitName = "leave_one_out",
        max_len: int = 50,
        batch_size: int = 256,
        eval_batch_size: int = 128,
        objective: Objective = "causal",
        mask_prob: float = 0.2,
        mask_last_prob: float = 0.0,
        cloze_copies: int = CLOZE_COPIES,
        window_stride: int | None = None,
        item_features: Sequence[str] = (),
        catalog_items: bool = False,
        base_item_vocab: Vocabulary | None = None,
        feedback: pl.DataFrame | Callable[[Interactions], pl.DataFrame] | None = None,
        feedback_per_event: int = 4,
        token_hash_buckets: int | None = None,
        context_features: Sequence[str] = (),
        user_features: Sequence[str] = (),
        segments: Callable[[pl.DataFrame, pl.DataFrame | None], pl.DataFrame] | None = None,
        event_types: EventTypes | Sequence[str] | None = None,
        min_user_events: int = 0,
        min_item_events: int = 0,
        drop_duplicates: bool = True,
        session_gap_seconds: int | None = None,
        cutoff: int | float | datetime | None = None,
        validation_cutoff: int | float | datetime | None = None,
        held_out_fraction: float = 0.1,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_objective(objective)
        self.source = source
        self.path = path
        self.max_len = max_len
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.objective = objective
        self.mask_prob = mask_prob
        self.mask_last_prob = mask_last_prob
        self.cloze_copies = cloze_copies
        self.options = dict(
            split=split, max_len=max_len, objective=objective, window_stride=window_stride,
            item_features=list(item_features), catalog_items=catalog_items, base_item_vocab=base_item_vocab,
            feedback=feedback, feedback_per_event=feedback_per_event, token_hash_buckets=token_hash_buckets,
            context_features=list(context_features), user_features=list(user_features), segments=segments,
            event_types=event_types, min_user_events=min_user_events, min_item_events=min_item_events,
            drop_duplicates=drop_duplicates, session_gap_seconds=session_gap_seconds, cutoff=cutoff,
            validation_cutoff=validation_cutoff, held_out_fraction=held_out_fraction,
        )
        self.num_workers = num_workers
        self.seed = seed
        self.prepared: PreparedData | None = None
        self._train_sampler: LengthGroupedBatchSampler | None = None  # the latest training loader's
        self._train_position: dict[str, int] | None = None  # restored from a checkpoint, for the next loader

    # -- Lightning hooks ---------------------------------------------------------------------------
    @property
    def window_copies(self) -> int:
        """How often each training window enters an epoch: ``cloze_copies`` for Cloze windows (masked anew
        each time), once for causal ones."""
        return self.cloze_copies if self.objective == "cloze" else 1

    def setup(self, stage: str | None = None) -> None:
        """Prepare the data once (later calls do nothing) and wrap it in data sets."""
        if self.prepared is not None:
            return
        data = self.source if isinstance(self.source, Interactions) else self.source()
        self.prepared = prepare(data, **self.options)
        self.train_set = training_windows(self.prepared, mask_prob=self.mask_prob,
                                          mask_last_prob=self.mask_last_prob, seed=self.seed,
                                          copies=self.window_copies)
        self.val_set = evaluation_targets(self.prepared, "validation")
        self.test_set = evaluation_targets(self.prepared, "test")

    def state_dict(self) -> dict:
        """What a checkpoint needs to continue the data exactly: the Cloze masks' random stream and the position
        in the epoch's batches (whose order depends on the seed and the epoch alone). With ``num_workers > 0``
        the masks are drawn, and the batches fetched ahead, in the workers: not exact then."""
        state = {}
        if getattr(self, "train_set", None) is not None:
            state["mask_generator"] = self.train_set.generator.get_state()
        if self._train_sampler is not None:
            state["train_position"] = self._train_sampler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        if self.trainer is not None and self.trainer.state.fn != TrainerFn.FITTING:
            return  # validating or testing a checkpoint restores the data module too: only a resumed fit continues
        if "mask_generator" in state_dict:
            if self.prepared is None:
                raise RuntimeError("call setup() before restoring the data module's state")
            self.train_set.generator.set_state(state_dict["mask_generator"])
        # Lightning builds the training loader after this (and before it restores its loops' loader state)
        self._train_position = state_dict.get("train_position")

    def train_dataloader(self) -> DataLoader:
        rank, processes = self._shard()
        sampler = LengthGroupedBatchSampler(self.train_set.lengths, self.batch_size, self.seed,
                                            num_replicas=processes, rank=rank)
        if self._train_position is not None:  # a resumed fit: its first pass starts where the checkpoint stopped
            sampler.load_state_dict(self._train_position)
            self._train_position = None
        self._train_sampler = sampler
        return ResumableDataLoader(self.train_set, sampler=sampler, batch_size=None, num_workers=self.num_workers,
                                   persistent_workers=self.num_workers > 0)  # a stop mid-epoch resumes there

    def val_dataloader(self) -> DataLoader:
        return self._targets(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._targets(self.test_set)

    def _targets(self, dataset: EvaluationTargets) -> DataLoader:
        """Fixed batches of (this process's share of) the targets ordered by history length."""
        rank, processes = self._shard()
        return target_loader(dataset, self.eval_batch_size, num_workers=self.num_workers, rank=rank,
                             num_replicas=processes)

    def _shard(self) -> tuple[int, int]:
        """``(rank, processes)`` of the running trainer that asks for a loader: it gets this process's share.
        Anyone else (a baseline's evaluation, a report, a test) gets all the data."""
        trainer = self.trainer
        if trainer is None or trainer.state.status != TrainerStatus.RUNNING:
            return 0, 1
        return trainer.global_rank, trainer.world_size
