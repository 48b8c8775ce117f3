"""A data set prepared for sequence models, as one value: :func:`prepare` splits, encodes and packs it once.

``PreparedData`` holds everything derived from the data (the split, the encoded log and its vocabularies,
the feature tables, the packed training windows and evaluation targets) and nothing about how it is
served (batch sizes, workers, masking draws): :class:`xsell.data.datamodule.SequenceDataModule` wraps it
in loaders for Lightning, and evaluation, rules and export read the fields they need from it.

Example::

    prepared = prepare(synthetic_shop(20_000, seed=0), max_len=50, item_features=["category"])
    prepared.num_items, prepared.summary()["test_targets"]
    MostPopular().fit(prepared.log)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import numpy as np
import polars as pl
import torch

from xsell.data.features import FeatureSpec, FeatureTable, build_feature_table
from xsell.data.feedback import EncodedFeedback, encode_feedback
from xsell.data.interactions import Interactions
from xsell.data.pipeline import SplitName, prepare_split
from xsell.data.schema import DEFAULT_EVENT_TYPES, ITEM, USER, EventTypes
from xsell.data.sequences import (
    EncodedLog,
    PackedSequences,
    PackedTargets,
    encode_split,
    pack_targets,
    pack_training_windows,
)
from xsell.data.splits import TEST, VALIDATION, Split
from xsell.data.vocabulary import Vocabulary
from xsell.errors import EmptyDataError, SchemaError

Objective = Literal["causal", "cloze"]
PARTS = {"val": VALIDATION, "validation": VALIDATION, "test": TEST}  # evaluation part name -> split part


@dataclass(frozen=True, eq=False)
class PreparedData:
    """A split, encoded and packed data set (see :func:`prepare`).

    Attributes:
        interactions: the loaded data set (with the computed user segments joined to its user table, if any).
        split: the cleaned, split event log.
        log: the encoded flat log: item, user, event and context indices with their vocabularies.
        item_features / user_features: the encoded feature tables (``None`` when none were asked for).
        feedback: explicit feedback answers attached to the log's events (``None`` without).
        windows: the packed training windows (``max_len + 1`` events for ``causal``, ``max_len`` for ``cloze``).
        validation / test: the packed evaluation targets (the last ``max_len`` events before each target).
        max_len: history length fed to the model. objective: ``causal`` or ``cloze`` (how windows were cut).
        window_stride: the causal windows' stride (``None``: disjoint windows).
    """

    interactions: Interactions
    split: Split
    log: EncodedLog
    item_features: FeatureTable | None
    user_features: FeatureTable | None
    feedback: EncodedFeedback | None
    windows: PackedSequences
    validation: PackedTargets
    test: PackedTargets
    max_len: int
    objective: Objective
    window_stride: int | None = None

    # -- sizes the models need -------------------------------------------------------------------
    @property
    def item_vocab(self) -> Vocabulary:
        return self.log.item_vocab

    @property
    def num_items(self) -> int:
        """Item vocabulary size (padding and unknown included); a Cloze mask token takes this index."""
        return len(self.log.item_vocab)

    @property
    def mask_index(self) -> int:
        return self.num_items

    @property
    def event_types(self) -> EventTypes:
        return self.log.event_types

    @property
    def num_event_types(self) -> int:
        return self.log.event_types.size

    @property
    def context_specs(self) -> list[FeatureSpec]:
        """One spec per column of ``SequenceBatch.context`` (empty without context)."""
        return list(self.log.context_specs)

    @property
    def user_specs(self) -> list[FeatureSpec]:
        """How the columns of ``SequenceBatch.user_features`` group into features (empty without)."""
        return [] if self.user_features is None else list(self.user_features.specs)

    def item_counts(self) -> torch.Tensor:
        """``[num_items]`` float32 training events per item index (for popularity samplers and baselines)."""
        return torch.from_numpy(self.log.training_item_counts().astype(np.float32))

    def targets(self, part: str) -> PackedTargets:
        """The packed targets of ``part`` (``validation`` / ``val`` or ``test``)."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {sorted(PARTS)}, got {part!r}")
        return self.test if PARTS[part] == TEST else self.validation

    def request_values(self) -> dict[str, dict[str, list[str]]]:
        """What the ids of ``SequenceBatch.context`` / ``user_features`` mean: per column, the values of ids
        2, 3, .. (0 padding, 1 unknown), e.g. ``{"context": {"device": ["mobile", ...]}, "user": {...}}``;
        a serving client encodes requests with it (it is recorded in the bundle manifest)."""
        context = {s.name: values for s, values in zip(self.log.context_specs, self.log.context_values, strict=True)}
        user = {} if self.user_features is None else dict(self.user_features.values)
        return {"context": context, "user": user}

    def summary(self) -> dict:
        """Sizes of the prepared data: events, users, items, windows and targets per part."""
        return {
            **self.interactions.summary(),
            "protocol": self.split.protocol,
            "item_vocabulary": len(self.log.item_vocab),
            "training_windows": len(self.windows),
            "training_events": int((self.log.part == 0).sum()),
            "validation_targets": len(self.validation),
            "test_targets": len(self.test),
            "max_len": self.max_len,
            "objective": self.objective,
            "context_features": [s.name for s in self.log.context_specs],
            "user_features": [s.name for s in self.user_specs],
            **({"request_values": self.request_values()} if self.log.context_specs or self.user_specs else {}),
            **({} if self.feedback is None else {"feedback_answers_used": self.feedback.used}),
        }


def check_objective(objective: str) -> None:
    if objective not in ("causal", "cloze"):
        raise ValueError(f"objective must be 'causal' or 'cloze', got {objective!r}")


def prepare(
    data: Interactions,
    *,
    split: SplitName = "leave_one_out",
    max_len: int = 50,
    objective: Objective = "causal",
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
) -> PreparedData:
    """Split, encode and pack a data set; the same arguments give equal values.

    Args:
        data: what a reader or the synthetic shop returned.
        split: ``leave_one_out`` (default), ``temporal`` (needs ``cutoff``), ``leave_last_session_out`` or
            ``held_out_users`` (whole users held out, every next event of theirs a target).
        max_len: history length fed to the model.
        objective: ``causal`` (every position predicts the next item) or ``cloze`` (masked items).
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
            Causal training windows then carry up to ``feedback_per_event`` answers per position.
        token_hash_buckets: encode token-list item features (title tokens) by the hashing trick into this
            many buckets (unseen tokens still get embeddings), instead of a vocabulary (None).
        context_features: per-event context columns (``device``, ``time_of_day``, the derived
            ``session_length``) carried in ``SequenceBatch.context`` (see :mod:`xsell.data.context`).
        user_features: user-table columns (``segment``, a behavioural segment) carried in
            ``SequenceBatch.user_features``.
        segments: a callable ``(training events, item table or None) -> user table`` (e.g.
            :class:`xsell.data.segmentation.BehaviouralSegments`) whose columns join the user table; it sees
            the training part only, so a segment never uses an evaluation event.
        event_types: the event vocabulary (default ``view``, ``cart``, ``purchase``).
        min_user_events / min_item_events / drop_duplicates / session_gap_seconds / cutoff /
            validation_cutoff / held_out_fraction: passed to :func:`xsell.data.pipeline.prepare_split`.

    Raises ``EmptyDataError`` when the split yields no training window, validation or test target.
    """
    check_objective(objective)
    if event_types is None or isinstance(event_types, EventTypes):
        event_types = event_types or DEFAULT_EVENT_TYPES
    else:
        event_types = EventTypes(tuple(event_types))
    item_features, user_features = list(item_features), list(user_features)
    parts = prepare_split(data, split=split, drop_duplicates=drop_duplicates, min_user_events=min_user_events,
                          min_item_events=min_item_events, session_gap_seconds=session_gap_seconds, cutoff=cutoff,
                          validation_cutoff=validation_cutoff, held_out_fraction=held_out_fraction)
    if segments is not None:  # computed on training events only
        data = replace(data, users=_join_users(data.users, segments(parts.train, data.items)))
    item_vocab = _item_vocabulary(data, parts, base_item_vocab, catalog_items)
    log = encode_split(parts, event_types=event_types, item_vocab=item_vocab, context_columns=list(context_features))
    item_table = user_table = encoded_feedback = None
    if item_features:
        if data.items is None:
            raise ValueError(f"item_features={item_features} but {data.name} has no item table")
        item_table = build_feature_table(data.items, ITEM, log.item_vocab, item_features,
                                         hash_buckets=token_hash_buckets, source=data.name)
    if user_features:
        if data.users is None:
            raise SchemaError(f"user_features={user_features} but the data has no user table",
                              source=data.name, column=user_features[0])
        user_table = build_feature_table(data.users, USER, log.user_vocab, user_features, source=data.name)
    answers = feedback if feedback is not None else data.feedback
    if callable(answers):
        answers = answers(data)
    if answers is not None:
        if objective != "causal":
            raise ValueError("explicit feedback is used by causal training only (the model's objective is "
                             f"{objective!r})")
        encoded_feedback = encode_feedback(answers, parts, log.item_vocab, feedback_per_event,
                                           source=f"feedback of {data.name}")
    windows = pack_training_windows(log, max_len, shift=1 if objective == "causal" else 0,
                                    rows=encoded_feedback is not None, stride=window_stride)
    prepared = PreparedData(
        interactions=data, split=parts, log=log, item_features=item_table, user_features=user_table,
        feedback=encoded_feedback, windows=windows, validation=pack_targets(log, VALIDATION, max_len),
        test=pack_targets(log, TEST, max_len), max_len=max_len, objective=objective, window_stride=window_stride,
    )
    _require_targets(prepared)
    return prepared


def _item_vocabulary(data: Interactions, parts: Split, base: Vocabulary | None, catalog_items: bool
                     ) -> Vocabulary | None:
    """The item vocabulary to encode with: ``None`` (fit on the training part), a warm start's grown one
    (old indices kept, new training items appended), and/or one that also indexes the whole catalog."""
    vocab = None
    if base is not None:
        vocab = base.grow(Vocabulary.fit(parts.train.get_column(ITEM), name=ITEM).ids)
    if catalog_items:
        trained = vocab if vocab is not None else Vocabulary.fit(parts.train.get_column(ITEM), name=ITEM)
        catalog = data.items if data.items is not None else parts.events  # no table: what the log names
        vocab = trained.grow(catalog.get_column(ITEM).cast(str).unique().sort())
    return vocab


def _require_targets(prepared: PreparedData) -> None:
    counts = {"training windows": len(prepared.windows), "validation targets": len(prepared.validation),
              "test targets": len(prepared.test)}
    if not all(counts.values()):
        empty = next(name for name, count in counts.items() if not count)
        raise EmptyDataError(f"the {prepared.split.protocol} split yields no {empty} "
                             f"({', '.join(f'{k}: {v}' for k, v in counts.items())}): too few events per user "
                             "(a user needs a training pair, a validation and a test target)",
                             source=prepared.interactions.name, rows=len(prepared.log.user))


def _join_users(users: pl.DataFrame | None, computed: pl.DataFrame) -> pl.DataFrame:
    """The user table with ``computed``'s columns (keyed by ``user_id``) added or replaced."""
    if users is None:
        return computed
    kept = [c for c in users.columns if c == USER or c not in computed.columns]
    return users.select(kept).join(computed, on=USER, how="left", maintain_order="left")
