"""Lightning DataModule: a data set in, padded ``SequenceBatch``es out, for causal or Cloze training.

The pipeline runs once in ``setup``; batches are cut from pre-packed arrays by fancy indexing (a batch
sampler hands the dataset a whole list of indices), so there is no per-sample Python work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import numpy as np
import pytorch_lightning as pl_lightning
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from xsell.data.batch import SequenceBatch
from xsell.data.features import FeatureTable, build_feature_table
from xsell.data.interactions import Interactions
from xsell.data.pipeline import SplitName, prepare_split
from xsell.data.schema import DEFAULT_EVENT_TYPES, ITEM, PAD_INDEX, EventTypes
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

Objective = Literal["causal", "cloze"]


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Random batches of similar length, so that padding columns can be cut from each batch.

    Indices are shuffled, cut into groups of ``group_batches`` batches, sorted by length inside each
    group, batched, and the batches shuffled again: every epoch sees every window once in random order,
    while most batches carry little padding.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, generator: torch.Generator,
                 group_batches: int = 32) -> None:
        self.lengths = torch.as_tensor(lengths)
        self.batch_size = batch_size
        self.generator = generator
        self.group = batch_size * group_batches

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator)
        batches = []
        for start in range(0, len(order), self.group):
            group = order[start:start + self.group]
            group = group[self.lengths[group].argsort(descending=True, stable=True)]
            batches.extend(group.split(self.batch_size))
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i].tolist()


def _trim(width: int, *columns: torch.Tensor) -> list[torch.Tensor]:
    """Keep the last ``width`` columns (left padding beyond the longest row of the batch is dropped)."""
    return [c[:, -width:] for c in columns]


class TrainingWindows(Dataset):
    """Training windows; ``dataset[list_of_indices]`` returns a whole ``SequenceBatch``.

    Causal: inputs are a window's first ``L`` items and labels its last ``L``. Cloze: each non-padding
    position is replaced by ``mask_index`` with probability ``mask_prob`` (at least one per row, the last
    when the coin masks none) and labelled with the hidden item.
    """

    def __init__(
        self,
        packed: PackedSequences,
        features: FeatureTable | None,
        objective: Objective,
        *,
        mask_index: int = 0,
        mask_prob: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.items = torch.from_numpy(packed.items.astype(np.int64))
        self.events = torch.from_numpy(packed.events.astype(np.int64))
        self.time_gaps = torch.from_numpy(packed.time_gaps.astype(np.int64))
        self.users = torch.from_numpy(packed.users.astype(np.int64))
        self.lengths = (self.items != PAD_INDEX).sum(1)  # [W]
        self.features = None if features is None else torch.from_numpy(features.ids)
        if self.features is not None and objective == "cloze":  # the mask token has no features
            self.features = torch.cat([self.features, self.features.new_zeros(1, self.features.shape[1])])
        self.objective = objective
        self.mask_index = mask_index
        self.mask_prob = mask_prob
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, index: list[int]) -> SequenceBatch:
        index = torch.as_tensor(index)
        width = max(int(self.lengths[index].max()), 2)
        items, events, gaps = _trim(width, self.items[index], self.events[index], self.time_gaps[index])
        if self.objective == "causal":
            inputs = items[:, :-1]
            labels = items[:, 1:].masked_fill(inputs == PAD_INDEX, PAD_INDEX)  # a user's first event: no label
            events, gaps = events[:, :-1], gaps[:, :-1]
        else:
            inputs, labels = self._mask(items)
        return SequenceBatch(
            items=inputs,
            events=events,
            time_gaps=gaps,
            item_features=None if self.features is None else self.features[inputs],
            labels=labels,
            users=self.users[index],
        )

    def _mask(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real = items != PAD_INDEX  # [B, L]
        masked = (torch.rand(items.shape, generator=self.generator) < self.mask_prob) & real
        none = ~masked.any(dim=1)
        masked[none, -1] = real[none, -1]
        inputs = items.masked_fill(masked, self.mask_index)
        labels = items.masked_fill(~masked, PAD_INDEX)
        return inputs, labels


class EvaluationTargets(Dataset):
    """Validation or test targets; ``dataset[list_of_indices]`` returns a ``SequenceBatch`` whose
    ``exclude`` holds each user's full history (for optional exclusion of seen items)."""

    def __init__(self, log: EncodedLog, packed: PackedTargets, features: FeatureTable | None) -> None:
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
        item_features: item-table columns to encode as feature ids (category, brand, price bucket, ...).
        catalog_items: also index every item of the item table that training never saw (after the trained
            ones), so that a model with item features scores them from their features alone (cold start);
            targets on them are then ranked instead of counting as unknown misses.
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
        item_features: Sequence[str] = (),
        catalog_items: bool = False,
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
        self.item_feature_columns = list(item_features)
        self.catalog_items = catalog_items
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
        self._epochs_served = 0
        self.data: Interactions | None = None
        self.split: Split | None = None
        self.log: EncodedLog | None = None
        self.item_features: FeatureTable | None = None

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
        item_vocab = None
        if self.catalog_items:
            if data.items is None:
                raise ValueError(f"catalog_items=True but {data.name} has no item table")
            trained = Vocabulary.fit(self.split.train.get_column(ITEM), name=ITEM)
            item_vocab = trained.grow(data.items.get_column(ITEM).cast(str).sort())
        self.log = encode_split(self.split, event_types=self.event_types, item_vocab=item_vocab)
        if self.item_feature_columns:
            if data.items is None:
                raise ValueError(f"item_features={self.item_feature_columns} but {data.name} has no item table")
            self.item_features = build_feature_table(
                data.items, ITEM, self.log.item_vocab, self.item_feature_columns, source=data.name
            )
        shift = 1 if self.objective == "causal" else 0
        self.train_set = TrainingWindows(
            pack_training_windows(self.log, self.max_len, shift=shift), self.item_features, self.objective,
            mask_index=len(self.log.item_vocab), mask_prob=self.mask_prob, seed=self.seed,
        )
        self.val_set = EvaluationTargets(self.log, pack_targets(self.log, VALIDATION, self.max_len),
                                         self.item_features)
        self.test_set = EvaluationTargets(self.log, pack_targets(self.log, TEST, self.max_len), self.item_features)

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed + self._epochs_served)
        self._epochs_served += 1
        sampler = LengthGroupedBatchSampler(self.train_set.lengths.numpy(), self.batch_size, generator)
        return self._loader(self.train_set, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self._by_length(self.val_set))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self._by_length(self.test_set))

    def _by_length(self, dataset: EvaluationTargets) -> list[list[int]]:
        """Fixed batches of targets ordered by history length (metrics are sums: order does not matter)."""
        order = dataset.lengths.argsort(descending=True, stable=True)
        return [chunk.tolist() for chunk in order.split(self.eval_batch_size)]

    def _loader(self, dataset: Dataset, sampler: Sampler | list[list[int]]) -> DataLoader:
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers,
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
        }
