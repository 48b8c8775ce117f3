"""Lightning DataModule: a data set in, padded ``SequenceBatch``es out, for causal or Cloze training.

The pipeline runs once in ``setup``; batches are cut from pre-packed arrays by fancy indexing (a batch
sampler hands the dataset a whole list of indices), so there is no per-sample Python work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Literal

import numpy as np
import polars as pl
import pytorch_lightning as pl_lightning
import torch
from pytorch_lightning.trainer.states import TrainerFn, TrainerStatus
from torch.utils.data import DataLoader, Dataset, Sampler

from xsell.data.batch import SequenceBatch
from xsell.data.features import FeatureSpec, FeatureTable, build_feature_table
from xsell.data.feedback import EncodedFeedback, encode_feedback
from xsell.data.interactions import Interactions
from xsell.data.pipeline import SplitName, prepare_split
from xsell.data.sampler import LengthGroupedBatchSampler, ResumableDataLoader, length_ordered_batches
from xsell.data.schema import DEFAULT_EVENT_TYPES, ITEM, PAD_INDEX, USER, EventTypes
from xsell.data.sequences import (
    EncodedLog,
    PackedSequences,
    PackedTargets,
    encode_split,
    pack_targets,
    pack_training_windows,
    seen_items,
)
from xsell.data.splits import TEST, VALIDATION, Split
from xsell.data.vocabulary import Vocabulary
from xsell.errors import EmptyDataError, SchemaError

Objective = Literal["causal", "cloze"]


def _trim(width: int, *columns: torch.Tensor) -> list[torch.Tensor]:
    """Keep the last ``width`` columns (left padding beyond the longest row of the batch is dropped)."""
    return [c[:, -width:] for c in columns]


class TrainingWindows(Dataset):
    """Training windows; ``dataset[list_of_indices]`` returns a whole ``SequenceBatch``.

    Causal: inputs are a window's first ``L`` items and labels its last ``L``. Cloze: each non-padding
    position is replaced by ``mask_index`` with probability ``mask_prob`` (at least one per row, the last
    when the coin masks none) and labelled with the hidden item. With probability ``mask_last_prob`` a row
    instead hides only its last item: the BERT4Rec paper's extra samples that look like next-item prediction
    (RecBole's ``ft_ratio``, drawn there per batch).

    With ``feedback`` (causal only; ``packed`` must carry ``rows``), each input position also carries the
    survey answers given after its event (``feedback_items`` / ``feedback_helpful``, ``[B, L, K]``): the
    answers of the position that predicts the next item.

    With ``stride`` (causal windows packed with the same ``stride``), only each window's last ``stride``
    labels are kept: the windows overlap and every event is trained once.
    """

    def __init__(
        self,
        packed: PackedSequences,
        features: FeatureTable | None,
        objective: Objective,
        *,
        mask_index: int = 0,
        mask_prob: float = 0.2,
        mask_last_prob: float = 0.0,
        seed: int = 0,
        feedback: EncodedFeedback | None = None,
        user_features: FeatureTable | None = None,
        stride: int | None = None,
    ) -> None:
        self.stride = stride
        if feedback is not None and (objective != "causal" or packed.rows is None):
            raise ValueError("explicit feedback needs causal training windows packed with rows=True")
        self.feedback = feedback
        self.rows = packed.rows
        self.items = torch.from_numpy(packed.items.astype(np.int64))
        self.events = torch.from_numpy(packed.events.astype(np.int64))
        self.time_gaps = torch.from_numpy(packed.time_gaps.astype(np.int64))
        self.users = torch.from_numpy(packed.users.astype(np.int64))
        self.lengths = (self.items != PAD_INDEX).sum(1)  # [W]
        self.context = None if packed.context is None else torch.from_numpy(packed.context.astype(np.int64))
        self.user_features = None if user_features is None else torch.from_numpy(user_features.ids)
        self.features = None if features is None else torch.from_numpy(features.ids)
        if self.features is not None and objective == "cloze":  # the mask token has no features
            self.features = torch.cat([self.features, self.features.new_zeros(1, self.features.shape[1])])
        self.objective = objective
        self.mask_index = mask_index
        self.mask_prob = mask_prob
        self.mask_last_prob = mask_last_prob
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, index: list[int]) -> SequenceBatch:
        index = torch.as_tensor(index)
        width = max(int(self.lengths[index].max()), 2)
        items, events, gaps = _trim(width, self.items[index], self.events[index], self.time_gaps[index])
        context = None if self.context is None else self.context[index][:, -width:]  # [B, T, C]
        if self.objective == "causal":
            inputs = items[:, :-1]
            labels = items[:, 1:].masked_fill(inputs == PAD_INDEX, PAD_INDEX)  # a user's first event: no label
            if self.stride is not None and self.stride < labels.shape[1]:
                labels[:, :-self.stride] = PAD_INDEX  # trained in a later window of the same user
            events, gaps = events[:, :-1], gaps[:, :-1]
            context = None if context is None else context[:, 1:]  # position t predicts event t + 1
        else:
            inputs, labels = self._mask(items)  # a masked position predicts its own event
        feedback_items = feedback_helpful = None
        if self.feedback is not None:
            rows = self.rows[index.numpy()][:, -width:-1]  # [B, L] log rows of the input events
            answered, helpful = self.feedback.gather(rows)  # [B, L, K]
            feedback_items, feedback_helpful = torch.from_numpy(answered.astype(np.int64)), torch.from_numpy(helpful)
        return SequenceBatch(
            items=inputs,
            events=events,
            time_gaps=gaps,
            item_features=None if self.features is None else self.features[inputs],
            labels=labels,
            users=self.users[index],
            feedback_items=feedback_items,
            feedback_helpful=feedback_helpful,
            context=context,
            user_features=None if self.user_features is None else self.user_features[self.users[index]],
        )

    def _mask(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real = items != PAD_INDEX  # [B, L]
        masked = (torch.rand(items.shape, generator=self.generator) < self.mask_prob) & real
        if self.mask_last_prob:
            last_only = torch.rand(items.shape[0], generator=self.generator) < self.mask_last_prob  # [B]
            masked[last_only] = False  # filled in below: a row with nothing masked hides its last item
        none = ~masked.any(dim=1)
        masked[none, -1] = real[none, -1]
        inputs = items.masked_fill(masked, self.mask_index)
        labels = items.masked_fill(~masked, PAD_INDEX)
        return inputs, labels


class EvaluationTargets(Dataset):
    """Validation or test targets; ``dataset[list_of_indices]`` returns a ``SequenceBatch`` whose
    ``exclude`` holds each user's full history (for optional exclusion of seen items)."""

    def __init__(self, log: EncodedLog, packed: PackedTargets, features: FeatureTable | None,
                 user_features: FeatureTable | None = None) -> None:
        self.log = log
        self.packed = packed
        self.items = torch.from_numpy(packed.items.astype(np.int64))
        self.events = torch.from_numpy(packed.events.astype(np.int64))
        self.time_gaps = torch.from_numpy(packed.time_gaps.astype(np.int64))
        self.users = torch.from_numpy(packed.users.astype(np.int64))
        self.target = torch.from_numpy(packed.target.astype(np.int64))
        self.target_event = torch.from_numpy(packed.target_event.astype(np.int64))
        self.lengths = (self.items != PAD_INDEX).sum(1)  # [N]
        self.features = None if features is None else torch.from_numpy(features.ids)
        self.user_features = None if user_features is None else torch.from_numpy(user_features.ids)
        self.context = None
        if packed.context is not None:  # what each position predicts: the next history event, then the target
            history = torch.from_numpy(packed.context.astype(np.int64))  # [N, L, C]
            target = torch.from_numpy(packed.target_context.astype(np.int64))  # [N, C]
            self.context = torch.cat([history[:, 1:], target.unsqueeze(1)], dim=1)  # [N, L, C]

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, index: list[int]) -> SequenceBatch:
        rows = np.asarray(index, dtype=np.int64)
        index = torch.from_numpy(rows)
        width = max(int(self.lengths[index].max()), 1)
        items, events, gaps = _trim(width, self.items[index], self.events[index], self.time_gaps[index])
        return SequenceBatch(
            items=items,
            events=events,
            time_gaps=gaps,
            item_features=None if self.features is None else self.features[items],
            users=self.users[index],
            target=self.target[index],
            target_event=self.target_event[index],
            exclude=torch.from_numpy(seen_items(self.log, self.packed, rows)),
            row=torch.from_numpy(self.packed.row[rows]),
            context=None if self.context is None else self.context[index][:, -width:],
            user_features=None if self.user_features is None else self.user_features[self.users[index]],
        )


class SequenceDataModule(pl_lightning.LightningDataModule):
    """Turns a data set into training windows and evaluation targets.

    Args:
        source: an ``Interactions`` or a zero-argument callable returning one (e.g. a Hydra partial).
        path: the file or folder the source reads (configs pass it on to the reader; kept for the data card).
        split: ``leave_one_out`` (default), ``temporal`` (needs ``cutoff``) or ``leave_last_session_out``.
        max_len: history length fed to the model.
        objective: ``causal`` (every position predicts the next item) or ``cloze`` (masked items).
        mask_prob: Cloze masking probability.
        mask_last_prob: Cloze only: share of training rows that hide only their last item (BERT4Rec paper).
        window_stride: causal training windows are laid back every ``window_stride`` events (default
            ``max_len``: disjoint windows) and train their last ``window_stride`` labels, so each target sees
            at least ``max_len - window_stride + 1`` earlier events where the user has them (``1``: one
            target per history prefix, as RecBole; ``max_len / window_stride`` times the compute).
        item_features: item-table columns to encode as feature ids (category, brand, price bucket, ...).
        catalog_items: also index every catalog item that training never saw (after the trained ones): the
            item table's, or without one every item the log names (the item universe of the SASRec paper's
            sampled protocol and of RecBole). A model with item features scores them from their features
            alone (cold start); without features their vectors are only ever trained as negatives. Targets
            on them are then ranked instead of counting as unknown misses, and sampled negatives may be them.
        base_item_vocab: the item vocabulary of a model to warm-start (see ``xsell.training.warm_start``):
            its ids keep their indices and the items new in this data's training part are appended.
        feedback: explicit feedback answers (a table, or a callable taking the loaded ``Interactions`` and
            returning one, e.g. the synthetic shop's survey); default: the data's own ``feedback`` table.
            Causal training batches then carry up to ``feedback_per_event`` answers per position.
        token_hash_buckets: encode token-list item features (title tokens) by the hashing trick into this
            many buckets (unseen tokens still get embeddings), instead of a vocabulary (None).
        context_features: per-event context columns (``device``, ``time_of_day``, the derived
            ``session_length``) carried in ``SequenceBatch.context`` (see :mod:`xsell.data.context`).
        user_features: user-table columns (``segment``, a behavioural segment) carried in
            ``SequenceBatch.user_features``.
        segments: a callable ``(training events, item table or None) -> user table`` (e.g.
            :class:`xsell.data.segmentation.BehaviouralSegments`) whose columns join the user table; it sees
            the training part only, so a segment never uses an evaluation event.
        min_user_events / min_item_events / drop_duplicates / session_gap_seconds / cutoff /
            validation_cutoff: passed to :func:`xsell.data.pipeline.prepare_split`.
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
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if objective not in ("causal", "cloze"):
            raise ValueError(f"objective must be 'causal' or 'cloze', got {objective!r}")
        self.source = source
        self.path = path
        self.split_name = split
        self.max_len = max_len
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.objective = objective
        self.mask_prob = mask_prob
        self.mask_last_prob = mask_last_prob
        self.window_stride = window_stride
        self.item_feature_columns = list(item_features)
        self.catalog_items = catalog_items
        self.base_item_vocab = base_item_vocab
        self.feedback_source = feedback
        self.feedback_per_event = feedback_per_event
        self.feedback: EncodedFeedback | None = None
        self.token_hash_buckets = token_hash_buckets
        self.context_columns = list(context_features)
        self.user_feature_columns = list(user_features)
        self.segments = segments
        if event_types is None or isinstance(event_types, EventTypes):
            self.event_types = event_types or DEFAULT_EVENT_TYPES
        else:
            self.event_types = EventTypes(tuple(event_types))
        self.split_options = dict(
            split=split, drop_duplicates=drop_duplicates, min_user_events=min_user_events,
            min_item_events=min_item_events, session_gap_seconds=session_gap_seconds, cutoff=cutoff,
            validation_cutoff=validation_cutoff,
        )
        self.num_workers = num_workers
        self.seed = seed
        self.data: Interactions | None = None
        self.split: Split | None = None
        self.log: EncodedLog | None = None
        self.item_features: FeatureTable | None = None
        self.user_features: FeatureTable | None = None
        self._train_sampler: LengthGroupedBatchSampler | None = None  # the latest training loader's
        self._train_position: dict[str, int] | None = None  # restored from a checkpoint, for the next loader

    # -- sizes the models need -------------------------------------------------------------------
    @property
    def num_items(self) -> int:
        """Item vocabulary size (padding and unknown included); a Cloze mask token takes this index."""
        self._require_setup()
        return len(self.log.item_vocab)

    @property
    def mask_index(self) -> int:
        return self.num_items

    @property
    def num_event_types(self) -> int:
        return self.event_types.size

    @property
    def context_specs(self) -> list[FeatureSpec]:
        """One spec per column of ``SequenceBatch.context`` (empty without context)."""
        self._require_setup()
        return list(self.log.context_specs)

    def request_values(self) -> dict[str, dict[str, list[str]]]:
        """What the ids of ``SequenceBatch.context`` / ``user_features`` mean: per column, the values of ids
        2, 3, .. (0 padding, 1 unknown), e.g. ``{"context": {"device": ["mobile", ...]}, "user": {...}}``;
        a serving client encodes requests with it (it is recorded in the bundle manifest)."""
        self._require_setup()
        context = {s.name: values for s, values in zip(self.log.context_specs, self.log.context_values, strict=True)}
        user = {} if self.user_features is None else dict(self.user_features.values)
        return {"context": context, "user": user}

    @property
    def user_specs(self) -> list[FeatureSpec]:
        """How the columns of ``SequenceBatch.user_features`` group into features (empty without)."""
        return [] if self.user_features is None else list(self.user_features.specs)

    def item_counts(self) -> torch.Tensor:
        """``[num_items]`` training events per item index (for popularity samplers and baselines)."""
        self._require_setup()
        return torch.from_numpy(self.log.training_item_counts().astype(np.float32))

    # -- Lightning hooks ---------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.log is not None:
            return
        data = self.source if isinstance(self.source, Interactions) else self.source()
        self.data = data
        self.split = prepare_split(data, **self.split_options)
        if self.segments is not None:  # computed on training events only
            data = replace(data, users=_join_users(data.users, self.segments(self.split.train, data.items)))
            self.data = data
        item_vocab = None
        if self.base_item_vocab is not None:  # warm start: old indices kept, new training items appended
            item_vocab = self.base_item_vocab.grow(Vocabulary.fit(self.split.train.get_column(ITEM), name=ITEM).ids)
        if self.catalog_items:
            trained = (item_vocab if item_vocab is not None
                       else Vocabulary.fit(self.split.train.get_column(ITEM), name=ITEM))
            catalog = data.items if data.items is not None else self.split.events  # no table: what the log names
            item_vocab = trained.grow(catalog.get_column(ITEM).cast(str).unique().sort())
        self.log = encode_split(self.split, event_types=self.event_types, item_vocab=item_vocab,
                                context_columns=self.context_columns)
        if self.item_feature_columns:
            if data.items is None:
                raise ValueError(f"item_features={self.item_feature_columns} but {data.name} has no item table")
            self.item_features = build_feature_table(
                data.items, ITEM, self.log.item_vocab, self.item_feature_columns,
                hash_buckets=self.token_hash_buckets, source=data.name,
            )
        if self.user_feature_columns:
            if data.users is None:
                raise SchemaError(f"user_features={self.user_feature_columns} but the data has no user table",
                                  source=data.name, column=self.user_feature_columns[0])
            self.user_features = build_feature_table(
                data.users, USER, self.log.user_vocab, self.user_feature_columns, source=data.name
            )
        feedback = self.feedback_source if self.feedback_source is not None else data.feedback
        if callable(feedback):
            feedback = feedback(data)
        if feedback is not None:
            if self.objective != "causal":
                raise ValueError("explicit feedback is used by causal training only (the model's objective is "
                                 f"{self.objective!r})")
            self.feedback = encode_feedback(feedback, self.split, self.log.item_vocab, self.feedback_per_event,
                                            source=f"feedback of {data.name}")
        shift = 1 if self.objective == "causal" else 0
        self.train_set = TrainingWindows(
            pack_training_windows(self.log, self.max_len, shift=shift, rows=self.feedback is not None,
                                  stride=self.window_stride),
            self.item_features, self.objective,
            mask_index=len(self.log.item_vocab), mask_prob=self.mask_prob, mask_last_prob=self.mask_last_prob,
            seed=self.seed, feedback=self.feedback,
            user_features=self.user_features, stride=self.window_stride,
        )
        self.val_set = EvaluationTargets(self.log, pack_targets(self.log, VALIDATION, self.max_len),
                                         self.item_features, self.user_features)
        self.test_set = EvaluationTargets(self.log, pack_targets(self.log, TEST, self.max_len), self.item_features,
                                          self.user_features)
        counts = {"training windows": len(self.train_set), "validation targets": len(self.val_set),
                  "test targets": len(self.test_set)}
        if not all(counts.values()):
            empty = next(name for name, count in counts.items() if not count)
            raise EmptyDataError(f"the {self.split.protocol} split yields no {empty} "
                                 f"({', '.join(f'{k}: {v}' for k, v in counts.items())}): too few events per user "
                                 "(a user needs a training pair, a validation and a test target)",
                                 source=data.name, rows=len(self.log.user))

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
            self._require_setup()
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
        return self._loader(self.train_set, sampler, loader=ResumableDataLoader)  # a stop mid-epoch resumes there

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self._by_length(self.val_set))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self._by_length(self.test_set))

    def _by_length(self, dataset: EvaluationTargets) -> list[list[int]]:
        """Fixed batches of (this process's share of) the targets ordered by history length."""
        rank, processes = self._shard()
        return length_ordered_batches(dataset.lengths, self.eval_batch_size, num_replicas=processes, rank=rank)

    def _shard(self) -> tuple[int, int]:
        """``(rank, processes)`` of the running trainer that asks for a loader: it gets this process's share.
        Anyone else (a baseline's evaluation, a report, a test) gets all the data."""
        trainer = self.trainer
        if trainer is None or trainer.state.status != TrainerStatus.RUNNING:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _loader(self, dataset: Dataset, sampler: Sampler | list[list[int]], loader: type = DataLoader) -> DataLoader:
        return loader(dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers,
                      persistent_workers=self.num_workers > 0)

    def _require_setup(self) -> None:
        if self.log is None:
            raise RuntimeError("call setup() first")

    def summary(self) -> dict:
        """Sizes of the prepared data: events, users, items, windows and targets per part."""
        self._require_setup()
        return {
            **(self.data.summary() if self.data else {}),
            "protocol": self.split.protocol,
            "item_vocabulary": len(self.log.item_vocab),
            "training_windows": len(self.train_set),
            "training_events": int((self.log.part == 0).sum()),
            "validation_targets": len(self.val_set),
            "test_targets": len(self.test_set),
            "max_len": self.max_len,
            "objective": self.objective,
            "context_features": [s.name for s in self.log.context_specs],
            "user_features": [s.name for s in self.user_specs],
            **({"request_values": self.request_values()} if self.log.context_specs or self.user_specs else {}),
            **({} if self.feedback is None else {"feedback_answers_used": self.feedback.used}),
        }


def _join_users(users: pl.DataFrame | None, computed: pl.DataFrame) -> pl.DataFrame:
    """The user table with ``computed``'s columns (keyed by ``user_id``) added or replaced."""
    if users is None:
        return computed
    kept = [c for c in users.columns if c == USER or c not in computed.columns]
    return users.select(kept).join(computed, on=USER, how="left", maintain_order="left")
