"""What a model needs to know about its data, in one value: catalog size, window length, which context the
histories carry and the feature tables' sizes. Built from the prepared data in one place
(:func:`xsell.training.builders.input_spec`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from torch import Tensor

from xsell.data.features import FeatureSpec


@dataclass(frozen=True, eq=False)
class InputSpec:
    """The data-derived sizes every model constructor takes.

    Args:
        num_items: item vocabulary size (padding and unknown included).
        max_len: longest history the model reads.
        num_event_types / num_time_gap_buckets: > 0 to add event-type / time-gap embeddings.
        feature_ids: ``[num_items, F]`` item feature ids (``ItemEmbedding``); ``None``: id-only items.
        feature_specs: the ``F`` item features' names and sizes.
        context_specs / user_specs: the request's context features (device, time of day, ...) and user
            features (segment) fused into the representation (``RequestFeatures``); empty: none.
    """

    num_items: int
    max_len: int = 50
    num_event_types: int = 0
    num_time_gap_buckets: int = 0
    feature_ids: Tensor | None = None
    feature_specs: Sequence[FeatureSpec] = ()
    context_specs: Sequence[FeatureSpec] = ()
    user_specs: Sequence[FeatureSpec] = ()

    @classmethod
    def of(cls, inputs: InputSpec | int | None, **sizes: Any) -> InputSpec:
        """``inputs`` as a spec: a spec (``sizes`` replace its fields), or a bare item count / ``None`` with
        the sizes as keywords (``SASRec(1000, dim=64, max_len=50)`` keeps working)."""
        if isinstance(inputs, InputSpec):
            return replace(inputs, **sizes) if sizes else inputs
        if inputs is not None:
            sizes["num_items"] = inputs
        if "num_items" not in sizes:
            raise TypeError("a model needs its inputs: an InputSpec or num_items=...")
        return cls(**sizes)

    def without_request(self) -> InputSpec:
        """The history side only (no context or user features): what a two-tower query encoder reads."""
        return replace(self, context_specs=(), user_specs=())

    def without_item_features(self) -> InputSpec:
        return replace(self, feature_ids=None, feature_specs=())
