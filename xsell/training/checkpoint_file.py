"""Reading a training checkpoint without running code from it: tensors and plain values only.

``torch.load(..., weights_only=True)`` rebuilds tensors, containers and primitive values and refuses any
other Python object, so a checkpoint crafted to run code on unpickling is rejected before anything in it
runs. Checkpoints written by ``xsell.train`` hold only such values (model and optimizer state, loop and
callback counters, scores as tensors); there is deliberately no switch back to full pickle.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from xsell.errors import CheckpointError


def read_checkpoint(ckpt: str | Path) -> dict[str, Any]:
    """The content of a Lightning checkpoint, loaded with ``weights_only=True``.

    Raises ``CheckpointError`` naming the file when it is missing, unreadable, not a checkpoint of
    ``xsell.train`` (no ``state_dict``), or needs pickle to load (it holds objects beyond tensors and
    plain values: refused, never unpickled).
    """
    path = Path(ckpt)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # also a corrupted file: it is no plain checkpoint either
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines if "Unsupported" in line), lines[-1] if lines else "")
        raise CheckpointError(f"refused checkpoint {path}: it is not made of tensors and plain values alone "
                              f"({detail.split('. Please')[0]}); loading it would need pickle, which can run code, "
                              "and xsell never unpickles a checkpoint") from exc
    except Exception as exc:  # noqa: BLE001 - any other failure means a missing or corrupted file
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(content, dict) or not isinstance(content.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a checkpoint of xsell.train (no state_dict)")
    return content
