"""Warm start: a new model initialised from a training checkpoint, its item vocabulary grown for new items.

Every run of ``xsell.train`` saves its item vocabulary (``item_vocabulary.json``) beside ``config.yaml``.
A warm-started run extends that vocabulary with the items new in its own training data (old items keep
their indices, new ones are appended; see :meth:`Vocabulary.grow`), builds the model for the grown catalog,
and copies the checkpoint into it: tensors of unchanged shape as they are, item-indexed tables (item id
embeddings and the item feature-id buffer, with any extra trailing token such as BERT4Rec's mask) row by
row for the old items, feature embedding tables that grew for their old rows. New rows keep the model's
fresh initialisation. Anything else that differs (another architecture, dimension, window length) raises
``CheckpointError`` naming the file and the tensor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from xsell.data.vocabulary import Vocabulary
from xsell.errors import CheckpointError
from xsell.runs import VOCABULARY_FILE, RunDir, checkpoint_weights

__all__ = ["VOCABULARY_FILE", "checkpoint_weights", "grow_state", "run_vocabulary", "warm_start"]

_ITEM_INDEXED = re.compile(r"(^|\.)(ids\.weight|feature_ids)$")  # ItemEmbedding's per-item tables
_FEATURE_TABLE = re.compile(r"(^|\.)features\.\d+\.weight$")  # ItemEmbedding's per-feature-value tables


def run_vocabulary(ckpt: str | Path) -> Vocabulary:
    """The item vocabulary of the training run a checkpoint belongs to (``<run>/item_vocabulary.json``)."""
    if not Path(ckpt).is_file():
        raise CheckpointError(f"checkpoint not found: {ckpt}")
    return RunDir.of_checkpoint(ckpt).load_vocabulary(needed_by=ckpt)


def grow_state(old: Mapping[str, Tensor], new: Mapping[str, Tensor], old_items: int, new_items: int,
               source: str = "checkpoint") -> dict[str, Tensor]:
    """``new`` (a freshly initialised model's state) with the checkpoint's tensors ``old`` copied in.

    Args:
        old: the checkpoint's model tensors, for a catalog of ``old_items`` indices (padding and unknown
            included). new: the new model's state for ``new_items >= old_items`` indices.
        source: the checkpoint file, named in errors.
    Raises:
        CheckpointError: a tensor is missing on either side, has another shape than growth explains, or the
            item feature ids of old items are encoded differently in the new data.
    """
    missing, unexpected = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
    if missing or unexpected:
        name = (missing or unexpected)[0]
        where = "the checkpoint lacks" if missing else "the model built for this data has no"
        raise CheckpointError(f"checkpoint {source} does not match the model: {where} tensor {name!r} "
                              f"({len(missing)} missing, {len(unexpected)} unexpected)")
    out: dict[str, Tensor] = {}
    for name, fresh in new.items():
        before = old[name]
        if before.shape == fresh.shape:
            out[name] = before.clone()
            continue
        extra = before.shape[0] - old_items if before.dim() else -1  # trailing tokens after the catalog
        same_rows = before.dim() == fresh.dim() and before.shape[1:] == fresh.shape[1:]
        item_indexed = bool(_ITEM_INDEXED.search(name)) and extra >= 0 and fresh.shape[0] - new_items == extra
        feature_table = bool(_FEATURE_TABLE.search(name)) and fresh.shape[0] >= before.shape[0]
        if not same_rows or not (item_indexed or feature_table):
            raise CheckpointError(f"checkpoint {source} does not match the model: tensor {name!r} has shape "
                                  f"{tuple(before.shape)}, the model built for this data needs {tuple(fresh.shape)}")
        grown = fresh.clone()
        if item_indexed:
            if not fresh.is_floating_point() and not torch.equal(fresh[:old_items], before[:old_items]):
                raise CheckpointError(f"checkpoint {source}: tensor {name!r}: the new data encodes the features of "
                                      "old items differently (feature vocabularies refitted); warm-start without "
                                      "item features or with the old item table")
            grown[:old_items] = before[:old_items]
            grown[new_items:] = before[old_items:]
        else:
            grown[:before.shape[0]] = before
        out[name] = grown
    return out


def warm_start(model: nn.Module, ckpt: str | Path, old_items: int, new_items: int) -> nn.Module:
    """Load checkpoint ``ckpt`` (a catalog of ``old_items`` indices) into ``model`` (built for ``new_items``)
    with :func:`grow_state`; returns ``model``."""
    state = grow_state(checkpoint_weights(ckpt), model.state_dict(), old_items, new_items, str(ckpt))
    model.load_state_dict(state)
    return model
