"""The hybrid as a serving artifact: one TorchScript top-k scorer holding both stages, in a two-stage bundle.

:class:`HybridTopK` has the call of :class:`xsell.export.scorer.TopKScorer`
(``scorer(items, k, exclude=None) -> (indices, scores)``): stage 1's neighbour tables, the popularity scores
and the ranker MLP are buffers and parameters of one scripted module, so a client needs no Python model code.
Padding, the unknown item, history items and ``exclude`` are never recommended; a slot with no eligible
item left is ``(0, -inf)``.

Bundle layout (``write_hybrid_bundle``)::

    bundle/
      scorer.pt      TorchScript HybridTopK (torch.jit.load)
      items.parquet  index -> original item_id
      manifest.json  format, settings, parity with the eager hybrid, versions, SHA-256 of each file

Before writing, the scripted scorer (saved and reloaded) is compared with the eager hybrid's own evaluation
path (:meth:`HybridRanker.score` on a ``SequenceBatch``) on random histories; a mismatch writes nothing.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Optional

import polars as pl
import torch
from torch import Tensor, nn

from xsell.atomic import atomic_directory
from xsell.data.batch import SequenceBatch
from xsell.data.schema import FIRST_INDEX, ITEM, PAD_INDEX, UNKNOWN_INDEX
from xsell.data.vocabulary import Vocabulary
from xsell.errors import BundleError
from xsell.export.manifest import sha256_file
from xsell.export.parity import TopK, check_parity, random_histories
from xsell.export.programs import torchscript_deprecation_silenced
from xsell.ranking.hybrid import HybridRanker, HybridScorer

FORMAT = "xsell-hybrid-bundle/1"
SCORER, ITEMS, MANIFEST = "scorer.pt", "items.parquet", "manifest.json"
PARITY_K = 10


class HybridTopK(nn.Module):
    """Top-k items of a fitted :class:`HybridScorer` for left-padded ``[B, L]`` int64 histories.

    Args:
        hybrid: the fitted two-stage module (used, not copied). history_candidates: as
            :class:`HybridRanker` (history items may be candidates; they are still never recommended).
    """

    def __init__(self, hybrid: HybridScorer, history_candidates: bool) -> None:
        super().__init__()
        self.hybrid = hybrid
        self.history_candidates = history_candidates
        self.num_items: int = hybrid.num_items
        self.pad_index: int = PAD_INDEX
        self.unknown_index: int = UNKNOWN_INDEX
        self.first_index: int = FIRST_INDEX

    def forward(self, items: Tensor, k: int, exclude: Optional[Tensor] = None,  # noqa: UP045 - TorchScript
                context: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:  # noqa: UP045
        if items.dtype != torch.int64 or items.dim() != 2:
            raise ValueError("items must be a [B, L] int64 tensor, got " + str(items.dtype) + " with "
                             + str(items.dim()) + " dimensions")
        if k < 1:
            raise ValueError("k must be at least 1, got " + str(k))
        items = torch.where((items >= 0) & (items < self.num_items), items, self.unknown_index)  # [B, L]
        batch = items.shape[0]
        history = torch.zeros(batch, self.num_items, dtype=torch.bool, device=items.device)
        history = history.scatter(1, items, torch.ones_like(items, dtype=torch.bool))  # [B, N]
        hidden = torch.zeros_like(history) if self.history_candidates else history
        if context is not None and (context.dtype != torch.int64 or context.dim() != 2
                                    or context.shape[0] != batch):
            raise ValueError("context must be a [" + str(batch) + ", K] int64 tensor")
        scores = self.hybrid(items, hidden, context)  # [B, N]
        hidden = history
        hidden[:, :self.first_index] = True
        if exclude is not None:
            if exclude.dtype != torch.bool or exclude.shape != hidden.shape:
                raise ValueError("exclude must be a [" + str(batch) + ", " + str(self.num_items) + "] bool tensor")
            hidden = hidden | exclude
        values, indices = scores.masked_fill(hidden, float("-inf")).topk(min(k, self.num_items), dim=1)
        return indices.masked_fill(values == float("-inf"), self.pad_index), values


@torch.no_grad()
def eager_topk(hybrid: HybridRanker, items: Tensor, k: int, exclude: Tensor | None = None,
               context: Tensor | None = None) -> TopK:
    """The reference: the eager hybrid's evaluation path (:meth:`HybridRanker.score` on a ``SequenceBatch``
    whose last context column is the request's ``context`` ``[B, K]``), then the serving exclusions applied by
    indexing."""
    num_items = hybrid.module.num_items
    items = items.masked_fill((items < 0) | (items >= num_items), UNKNOWN_INDEX)  # [B, L]
    history_context = None
    if context is not None:  # [B, L, K]: only the last position (the request) is read
        history_context = context.unsqueeze(1).expand(-1, items.shape[1], -1)
    batch = SequenceBatch(items=items, events=torch.zeros_like(items), time_gaps=torch.zeros_like(items),
                          context=history_context)
    scores = hybrid.score(batch).clone()  # [B, N]
    scores[:, :FIRST_INDEX] = float("-inf")
    rows = torch.arange(len(items)).unsqueeze(1).expand_as(items)
    scores[rows, items] = float("-inf")
    if exclude is not None:
        scores[exclude] = float("-inf")
    values, indices = scores.topk(min(k, num_items), dim=1)
    return indices.masked_fill(values == float("-inf"), PAD_INDEX), values


def compile_hybrid(hybrid: HybridRanker) -> torch.jit.ScriptModule:
    """The fitted hybrid as one scripted :class:`HybridTopK`."""
    if hybrid.module is None:
        raise RuntimeError("HybridRanker.fit() must run before compile_hybrid()")
    with torchscript_deprecation_silenced():
        return torch.jit.script(HybridTopK(hybrid.module, hybrid.history_candidates).eval())


def parity_batches(hybrid: HybridRanker, seed: int = 0) -> list[dict[str, Tensor]]:
    """Random histories at a few batch sizes and lengths (empty, unknown and out-of-catalog items included),
    with random request context ids when the ranker reads them."""
    ranker = hybrid.module.ranker
    request = {"context": ranker.context_sizes.tolist()} if ranker.uses_context else None
    return random_histories(hybrid.module.num_items, [(1, 12), (5, 60), (4, 2)], request=request, seed=seed)


def write_hybrid_bundle(path: str | Path, hybrid: HybridRanker, item_vocab: Vocabulary, *,
                        overwrite: bool = False, atol: float = 1e-5) -> Path:
    """Compile ``hybrid``, check the reloaded scorer against the eager hybrid, write the bundle atomically.

    Raises ``BundleError`` (and writes nothing) when the compiled top-k differs from the eager one."""
    scripted = compile_hybrid(hybrid)
    path = Path(path)
    with atomic_directory(path, overwrite=overwrite, owned=lambda p: (p / MANIFEST).is_file()) as tmp:
        with torchscript_deprecation_silenced():
            torch.jit.save(scripted, str(tmp / SCORER))
            reloaded = torch.jit.load(str(tmp / SCORER))
        parity = check_parity({"torchscript": reloaded}, partial(eager_topk, hybrid), parity_batches(hybrid),
                              PARITY_K)["torchscript"]
        if not parity.ok(atol):
            raise BundleError(f"the compiled hybrid differs from the eager one: {parity.to_dict()}")
        pl.DataFrame({"index": list(range(len(item_vocab))), ITEM: item_vocab.decode(range(len(item_vocab)))},
                     schema={"index": pl.Int64, ITEM: pl.String}).write_parquet(tmp / ITEMS)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "num_items": hybrid.module.num_items,
            "settings": {"per_generator": hybrid.per_generator, "history_candidates": hybrid.history_candidates,
                         "context_columns": hybrid.context_columns,
                         "generators": [type(b).__name__ for b in hybrid.baselines]},
            "ranker": hybrid.fit_report,
            "parity": parity.to_dict(),
            "versions": {"torch": torch.__version__},
            "files": {name: sha256_file(tmp / name) for name in (SCORER, ITEMS)},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return path


def load_hybrid_bundle(path: str | Path) -> tuple[torch.jit.ScriptModule, pl.DataFrame, dict[str, Any]]:
    """``(scorer, items, manifest)`` of a bundle, after checking its format and every file's SHA-256."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path / MANIFEST}: cannot read the manifest ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path / MANIFEST}: format {manifest.get('format')!r} is not {FORMAT!r}")
    for name, digest in manifest.get("files", {}).items():
        if not (path / name).is_file() or sha256_file(path / name) != digest:
            raise BundleError(f"{path / name}: missing or changed since the bundle was written (SHA-256)")
    with torchscript_deprecation_silenced():
        scorer = torch.jit.load(str(path / SCORER))
    return scorer, pl.read_parquet(path / ITEMS), manifest
