"""Files crafted to run code when unpickled: a payload that creates a marker file if it ever runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears only if pickle ran it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def hostile_checkpoint(path: Path, marker: Path, *, raw: bool = False) -> Path:
    """A checkpoint-looking file whose pickle carries :class:`Payload`: a ``torch.save`` zip archive, or with
    ``raw`` a bare pickle (the legacy format ``torch.load`` also reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {"state_dict": {"model.weight": torch.zeros(2)}, "hyper_parameters": Payload(marker)}
    if raw:
        path.write_bytes(pickle.dumps(content))
    else:
        torch.save(content, path)
    return path
