"""The data module for logs larger than memory: parquet shards in, batches read from memory-mapped files.

``ShardedDataModule`` prepares the shards once into a folder of ``.npy`` files
(:func:`xsell.data.on_disk.ensure_prepared`; the ranks of a DDP run take turns, the first prepares and the
others open its files) and serves the same ``SequenceBatch``es as ``SequenceDataModule``, reading only the rows
of each batch from the memory maps: a process holds the batch, the window lengths and the vocabularies, not
the log nor the packed windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xsell.data.datamodule import CLOZE_COPIES, SequenceDataModule
from xsell.data.datasets import EvaluationTargets, TrainingWindows
from xsell.data.on_disk import PreparedLog, PrepareOptions, ensure_prepared, files_fingerprint
from xsell.data.pipeline import SplitName
from xsell.data.prepared import Objective, PreparedData
from xsell.data.readers import scan_event_shards
from xsell.data.schema import DEFAULT_EVENT_TYPES, EventTypes
from xsell.data.sequences import EncodedLog, PackedSequences, PackedTargets
from xsell.errors import ConfigError


class MappedRows:
    """An on-disk ``[N, ...]`` array indexed like a tensor: ``rows[index]`` reads those rows as int64."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.array[np.asarray(index)], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.array)


class MappedTrainingWindows(TrainingWindows):
    """``TrainingWindows`` whose arrays stay on disk (no features, feedback or context).

    The parent's constructor is not called: it would copy every window into memory as int64.
    """

    def __init__(self, packed: PackedSequences, lengths: np.ndarray, objective: Objective, *, mask_index: int = 0,
                 mask_prob: float = 0.2, mask_last_prob: float = 0.0, seed: int = 0,
                 stride: int | None = None, copies: int = 1) -> None:
        self.stride = stride
        self.feedback = self.rows = self.context = self.user_features = self.features = None
        self.items, self.events, self.time_gaps, self.users = (
            MappedRows(packed.items), MappedRows(packed.events), MappedRows(packed.time_gaps), MappedRows(packed.users))
        self.lengths = torch.from_numpy(np.asarray(lengths, dtype=np.int64))  # [W]
        self._copy(objective, copies)
        self.objective = objective
        self.mask_index = mask_index
        self.mask_prob = mask_prob
        self.mask_last_prob = mask_last_prob
        self.generator = torch.Generator().manual_seed(seed)


class MappedEvaluationTargets(EvaluationTargets):
    """``EvaluationTargets`` whose arrays stay on disk (no features or context); the parent's constructor is
    not called for the same reason as in :class:`MappedTrainingWindows`."""

    def __init__(self, log: EncodedLog, packed: PackedTargets, lengths: np.ndarray) -> None:
        self.log = log
        self.packed = packed
        self.items, self.events, self.time_gaps = (
            MappedRows(packed.items), MappedRows(packed.events), MappedRows(packed.time_gaps))
        self.users, self.target, self.target_event = (
            MappedRows(packed.users), MappedRows(packed.target), MappedRows(packed.target_event))
        self.lengths = torch.from_numpy(np.asarray(lengths, dtype=np.int64))  # [N]
        self.features = self.user_features = self.context = None


@dataclass(frozen=True, eq=False)
class MappedPreparedData(PreparedData):
    """The :class:`~xsell.data.prepared.PreparedData` of a prepared folder: the packed arrays are memory maps,
    and there is no loaded log (``interactions`` and ``split`` are ``None``: steps that need the raw events,
    such as trigger-window metrics or retraining, are not available on sharded data)."""

    on_disk: PreparedLog | None = None
    name: str = ""

    def item_counts(self) -> torch.Tensor:
        """``[num_items]`` training events per item index, counted when the log was prepared."""
        return torch.from_numpy(np.asarray(self.on_disk.item_counts, dtype=np.float32))

    def summary(self) -> dict:
        """The prepared folder's counts, protocol and sizes (no pass over the log)."""
        counts = self.on_disk.manifest["counts"]
        return {"name": self.name, "events": counts["events"], "users": counts["users"],
                "protocol": self.on_disk.manifest.get("options", {}).get("split"),
                "item_vocabulary": counts["item_vocabulary"], "training_windows": counts["training_windows"],
                "training_events": counts["training_events"], "validation_targets": counts["validation_targets"],
                "test_targets": counts["test_targets"], "max_len": self.max_len, "objective": self.objective,
                "prepared": str(self.on_disk.folder), "context_features": [], "user_features": []}


class ShardedDataModule(SequenceDataModule):
    """A folder of parquet shards (see :func:`xsell.data.readers.scan_event_shards`) prepared on disk.

    Args:
        path: the shards' folder.
        cache_dir: where the prepared arrays go (default ``<path>.prepared`` beside the shards); reused while
            the shards (names, sizes, times) and the options are unchanged, rebuilt otherwise.
        columns: foreign column name -> canonical name.
        chunk_events: events per range of users prepared at once (memory grows with it).
        split, max_len, batch_size, eval_batch_size, objective, mask_prob, mask_last_prob, cloze_copies,
        window_stride, event_types, drop_duplicates, session_gap_seconds, cutoff, validation_cutoff, num_workers, seed:
            as ``SequenceDataModule`` (cutoffs as times: a quantile needs the whole log).

    The options that need the whole log in memory (item / user / context features, feedback, k-core,
    segments, catalog items, a warm start's vocabulary) raise ``ConfigError`` when set.
    """

    def __init__(
        self,
        path: str,
        *,
        cache_dir: str | None = None,
        columns: Mapping[str, str] | None = None,
        chunk_events: int = 5_000_000,
        split: SplitName = "leave_one_out",
        max_len: int = 50,
        batch_size: int = 256,
        eval_batch_size: int = 128,
        objective: Objective = "causal",
        mask_prob: float = 0.2,
        mask_last_prob: float = 0.0,
        cloze_copies: int = CLOZE_COPIES,
        window_stride: int | None = None,
        event_types: EventTypes | Sequence[str] | None = None,
        drop_duplicates: bool = True,
        session_gap_seconds: int | None = None,
        cutoff: Any = None,
        validation_cutoff: Any = None,
        num_workers: int = 0,
        seed: int = 0,
        feedback_per_event: int = 4,
        **in_memory_only: Any,
    ) -> None:
        unsupported = {key: value for key, value in in_memory_only.items() if _is_set(value)}
        if unsupported:
            key = next(iter(unsupported))
            raise ConfigError(f"data.{key}={unsupported[key]!r} needs the whole log in memory; the sharded data "
                              "module supports none of item/user/context features, feedback, k-core, segments, "
                              "catalog items or a warm start (use data=events)")
        super().__init__(_no_source, path=str(path), split=split, max_len=max_len, batch_size=batch_size,
                         eval_batch_size=eval_batch_size, objective=objective, mask_prob=mask_prob,
                         mask_last_prob=mask_last_prob, cloze_copies=cloze_copies, window_stride=window_stride,
                         event_types=event_types,
                         drop_duplicates=drop_duplicates, session_gap_seconds=session_gap_seconds,
                         num_workers=num_workers, seed=seed)
        self.cache_dir = Path(cache_dir) if cache_dir else Path(f"{Path(path).resolve()}.prepared")
        if self.cache_dir.resolve().is_relative_to(Path(path).resolve()):
            raise ConfigError(f"data.cache_dir={cache_dir} lies inside data.path={path}: the prepared files would "
                              "change the shards' fingerprint; choose a folder outside it")
        self.columns = dict(columns or {})
        self.chunk_events = chunk_events
        self.window_stride = window_stride
        self.disk_options = PrepareOptions(
            max_len=max_len, shift=1 if objective == "causal" else 0, stride=window_stride, split=split,
            drop_duplicates=drop_duplicates, session_gap_seconds=session_gap_seconds,
            cutoff=PrepareOptions.seconds(cutoff, "cutoff"),
            validation_cutoff=PrepareOptions.seconds(validation_cutoff, "validation_cutoff"),
            event_types=_event_types(event_types).names,
        )

    def setup(self, stage: str | None = None) -> None:
        """Prepare the shards on disk once (or open the folder an earlier run or another rank prepared) and
        wrap the memory maps in data sets."""
        if self.prepared is not None:
            return
        on_disk = ensure_prepared(lambda: scan_event_shards(self.path, self.columns), self.cache_dir,
                                  self.disk_options, source=self.path, fingerprint=files_fingerprint(self.path),
                                  chunk_events=self.chunk_events)
        log = on_disk.log
        self.prepared = MappedPreparedData(
            interactions=None, split=None, log=log, item_features=None, user_features=None, feedback=None,
            windows=on_disk.windows, validation=on_disk.validation, test=on_disk.test, max_len=self.max_len,
            objective=self.objective, window_stride=self.window_stride, on_disk=on_disk, name=str(self.path),
        )
        self.train_set = MappedTrainingWindows(
            on_disk.windows, on_disk.lengths["windows"], self.objective, mask_index=len(log.item_vocab),
            mask_prob=self.mask_prob, mask_last_prob=self.mask_last_prob, seed=self.seed, stride=self.window_stride,
            copies=self.window_copies,
        )
        self.val_set = MappedEvaluationTargets(log, on_disk.validation, on_disk.lengths["validation"])
        self.test_set = MappedEvaluationTargets(log, on_disk.test, on_disk.lengths["test"])


def _event_types(event_types: EventTypes | Sequence[str] | None) -> EventTypes:
    """The behaviours as ``SequenceDataModule`` reads them: the defaults, an ``EventTypes`` or a list of names."""
    if event_types is None or isinstance(event_types, EventTypes):
        return event_types or DEFAULT_EVENT_TYPES
    return EventTypes(tuple(event_types))


def _no_source() -> None:
    """The parent's ``source``: never called, the log is read from the prepared folder (a module-level
    function, not a lambda, so that the module pickles for spawned processes)."""
    raise RuntimeError("ShardedDataModule reads its prepared folder, not a source")


def _is_set(value: Any) -> bool:
    """Whether an in-memory-only option asks for something (``None``, ``False``, an empty list or a
    threshold of at most 1 ask for nothing)."""
    if value is None or value is False:
        return False
    if isinstance(value, int):
        return value > 1
    try:
        return len(value) > 0
    except TypeError:
        return True
