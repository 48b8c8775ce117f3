"""Data layer: readers, the synthetic shop, preprocessing, splits, the prepared data value and the Lightning data
module that wraps it."""

from typing import Any

from xsell.data.interactions import Interactions
from xsell.data.pipeline import prepare_split
from xsell.data.preprocess import add_positions, dedupe, k_core, sessionize
from xsell.data.readers import read_atomic, read_events, read_feedback, read_sasrec_txt, scan_event_shards
from xsell.data.schema import EventTypes
from xsell.data.splits import (
    LeakageError,
    Split,
    check_no_leakage,
    held_out_users,
    leave_last_session_out,
    leave_one_out,
    temporal_split,
)
from xsell.data.synthetic import synthetic_shop
from xsell.data.vocabulary import Vocabulary

__all__ = [
    "EventTypes", "Interactions", "LeakageError", "PreparedData", "SequenceBatch", "SequenceDataModule",
    "Split", "Vocabulary", "add_positions", "check_no_leakage", "dedupe", "held_out_users", "k_core",
    "leave_last_session_out",
    "leave_one_out", "prepare", "prepare_split", "read_atomic", "read_events", "read_feedback",
    "read_sasrec_txt", "scan_event_shards", "sessionize", "synthetic_shop", "temporal_split",
]


def __getattr__(name: str) -> Any:
    """Torch-side names load on first use, so reading and splitting data never imports Lightning."""
    if name == "SequenceDataModule":
        from xsell.data.datamodule import SequenceDataModule

        return SequenceDataModule
    if name in ("PreparedData", "prepare"):
        from xsell.data import prepared

        return getattr(prepared, name)
    if name == "SequenceBatch":
        from xsell.data.batch import SequenceBatch

        return SequenceBatch
    raise AttributeError(f"module 'xsell.data' has no attribute {name!r}")
