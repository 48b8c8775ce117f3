"""A :class:`~xsell.export.scorer.TopKScorer` compiled for serving: TorchScript and a ``torch.export`` program.

Both take the scorer's arguments. The exported program has a dynamic batch size, history length and ``k``
(``torch.export.Dim``); shapes are traced size-obliviously (``backed_size_oblivious``), so the example's
sizes are not baked in and batch 1 / ``k = 1`` follow the general path (the parity tests cover both). It
always takes an exclusion mask (an exported program fixes which optional inputs are present, and a mask
is what serving usually needs); :class:`ProgramScorer` gives the loaded program the TorchScript scorer's
call, ``exclude`` optional, by passing an all-False ``[B, N]`` mask for None.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.fx.experimental._config as fx_config
from torch import Tensor, nn
from torch.export import Dim, ExportedProgram

from xsell.export.scorer import TopKScorer

# The batch and history length of the example traced for torch.export (the parity tests use others).
EXPORT_EXAMPLE_SHAPE = (3, 7)


# nn.GRU keeps ``_flat_weights``, a list of its own registered parameters, and refreshes it whenever a
# parameter is set; torch.export swaps the parameters in and out, so the list is re-assigned and export warns
# about unregistered tensor attributes. They are the registered parameters themselves (parity checks it).
GRU_FLAT_WEIGHTS_WARNING = r"The tensor attributes (\S+\._flat_weights\[\d+\](, )?)+ were assigned during export"


@contextmanager
def torchscript_deprecation_silenced() -> Iterator[None]:
    """Silence torch's "TorchScript / torch.jit is deprecated" warnings: the bundle ships ``torch.export``
    beside TorchScript on purpose, for servers that still load ``scorer.pt``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*TorchScript.*deprecated")
        yield


def to_torchscript(scorer: TopKScorer) -> torch.jit.ScriptModule:
    """``torch.jit.script`` of the scorer (its ``torch.jit`` deprecation warning silenced)."""
    with torchscript_deprecation_silenced():
        return torch.jit.script(scorer.eval())


def save_torchscript(scorer: TopKScorer, path: str | Path) -> None:
    """:func:`to_torchscript` written to ``path`` with ``torch.jit.save``."""
    with torchscript_deprecation_silenced():
        torch.jit.save(to_torchscript(scorer), str(path))


def example_inputs(scorer: TopKScorer, k: int = 10) -> tuple[tuple[Tensor, int, Tensor], dict[str, Tensor]]:
    """The example the program is traced with: ``(items, k, exclude)`` (random known items, nothing
    excluded) and, when the model reads them, ``events`` / ``time_gaps`` as keywords."""
    batch, length = EXPORT_EXAMPLE_SHAPE
    generator = torch.Generator().manual_seed(0)
    items = torch.randint(2, scorer.num_items, (batch, length), generator=generator)  # [B, L]
    exclude = torch.zeros(batch, scorer.num_items, dtype=torch.bool)  # [B, N]
    context = {name: torch.full_like(items, 2) for name, used in
               (("events", scorer.uses_events), ("time_gaps", scorer.uses_time_gaps)) if used}
    for name, sizes in request_inputs(scorer).items():  # [B, C] request ids
        context[name] = torch.full((batch, len(sizes)), 2, dtype=torch.long)
    return (items, k, exclude), context


def request_inputs(scorer: TopKScorer) -> dict[str, list[int]]:
    """``{"context": [table size per column], "user": [...]}`` for the request inputs the model reads."""
    return {name: sizes.tolist() for name, used, sizes in (("context", scorer.uses_context, scorer.context_sizes),
                                                          ("user", scorer.uses_user, scorer.user_sizes)) if used}


def to_exported_program(scorer: TopKScorer) -> ExportedProgram:
    """``torch.export.export`` of the scorer with dynamic batch, history length and ``k``.

    Call the loaded program as ``program.module()(items, k, exclude)``, adding ``events=`` /
    ``time_gaps=`` (``[B, L]``) and ``context=`` / ``user=`` (``[B, C]``) when the model reads them.
    """
    args, kwargs = example_inputs(scorer)
    batch, length = Dim("batch", min=1), Dim("history", min=1)
    history = {0: batch, 1: length}
    shapes = {"items": history, "k": Dim.DYNAMIC, "exclude": {0: batch, 1: Dim.STATIC}}
    shapes.update({name: history if name in ("events", "time_gaps") else {0: batch, 1: Dim.STATIC}
                   for name in kwargs})
    with torch.no_grad(), fx_config.patch(backed_size_oblivious=True), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=GRU_FLAT_WEIGHTS_WARNING, category=UserWarning)
        return torch.export.export(scorer.eval(), args, kwargs=kwargs, dynamic_shapes=shapes, strict=False)


class ProgramScorer(nn.Module):
    """A loaded ``scorer.pt2`` program called like ``scorer.pt``: ``forward(items, k, exclude=None, **context)``.

    Args:
        program: ``torch.export.load(path).module()``. num_items: the catalog size ``N`` (the mask width).
    """

    def __init__(self, program: nn.Module, num_items: int) -> None:
        super().__init__()
        self.program = program
        self.num_items = num_items

    def forward(self, items: Tensor, k: int, exclude: Tensor | None = None, **context: Tensor) -> tuple[Tensor, Tensor]:
        if exclude is None:
            exclude = torch.zeros(items.shape[0], self.num_items, dtype=torch.bool, device=items.device)  # [B, N]
        return self.program(items, k, exclude, **context)
