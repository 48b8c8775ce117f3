"""The serving bundle on disk: write it atomically with a parity self-check, load it only after verifying.

Layout::

    bundle/
      scorer.pt       TorchScript TopKScorer (Triton's PyTorch backend, torch.jit.load)
      scorer.pt2      the same scorer as a torch.export ExportedProgram (torch.export.load)
      items.parquet   index -> original item_id, training count and the item features
      manifest.json   model, config, data fingerprint, metrics, versions, parity, SHA-256 of every file
      manifest.sha256 SHA-256 of the manifest's canonical JSON form (any edited value fails verification)
      manifest.sig    HMAC-SHA256 of that digest, when a bundle key is set (see xsell.export.signing)
      README.md       the model card

A later two-tower bundle adds ``index.faiss`` to the same layout (and to the manifest's ``files``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl
import torch
from torch import Tensor, nn

from xsell.atomic import atomic_directory, write_text_atomic
from xsell.data.schema import FIRST_INDEX, ITEM, PAD_INDEX, UNKNOWN_INDEX
from xsell.data.vocabulary import Vocabulary
from xsell.errors import BundleError, UnknownItemWarning
from xsell.export import manifest as mf
from xsell.export.card import render_card
from xsell.export.parity import check_parity, eager_topk, random_histories
from xsell.export.programs import (
    EXPORT_EXAMPLE_SHAPE,
    ProgramScorer,
    request_inputs,
    save_torchscript,
    to_exported_program,
    torchscript_deprecation_silenced,
)
from xsell.export.scorer import TopKScorer
from xsell.export.signing import bundle_key, write_signature

PARITY_K = 10


def parity_batches(scorer: TopKScorer, seed: int = 0) -> list[dict[str, Tensor]]:
    """Random histories (see :func:`~xsell.export.parity.random_histories`) at batch sizes and lengths unlike
    the export example's (3, 7): one full-length row, 5 rows longer than ``max_len``, 4 short rows."""
    context = {name: size for name, size in (("events", scorer.num_event_types),
                                              ("time_gaps", scorer.num_time_gap_buckets)) if size > 0}
    return random_histories(scorer.num_items, [(1, scorer.max_len), (5, scorer.max_len + 4), (4, 2)],
                            context=context, request=request_inputs(scorer), seed=seed)


def reference(scorer: TopKScorer):
    """The eager model's own top-k with the scorer's rules (see :func:`~xsell.export.parity.eager_topk`)."""
    def topk(items: Tensor, k: int, exclude: Tensor | None = None, **context: Tensor):
        return eager_topk(scorer.model, scorer.prior, items, k, exclude, **context,
                          exclude_history=scorer.exclude_history, rules=scorer.rules)
    return topk


def write_bundle(
    path: str | Path,
    scorer: TopKScorer,
    items: pl.DataFrame,
    manifest: dict[str, Any],
    *,
    overwrite: bool = False,
    atol: float = 1e-5,
    key_file: str | Path | None = None,
) -> Path:
    """Compile ``scorer`` to TorchScript and torch.export, check both (reloaded from disk) against the
    eager model, and write the bundle to ``path`` atomically.

    ``manifest`` holds the descriptive entries (model, config, data, metrics); format, versions, scorer
    inputs, parity and checksums are added here. Raises ``BundleError`` when a compiled scorer does not
    reproduce the eager top-10 within ``atol``; ``OutputError`` (a ``FileExistsError``) when ``path`` exists
    and not ``overwrite``, or is a non-empty folder that is not a bundle. With a bundle key (``key_file``, else
    ``$XSELL_BUNDLE_KEY``) the bundle is signed.
    """
    path = Path(path)
    scorer = scorer.eval()
    key = bundle_key(key_file)
    with atomic_directory(path, overwrite=overwrite, owned=mf.is_bundle) as tmp:
        save_torchscript(scorer, tmp / mf.SCRIPTED)
        torch.export.save(to_exported_program(scorer), tmp / mf.EXPORTED)
        items.write_parquet(tmp / mf.ITEMS)
        loaded = {"scorer.pt": _load_scripted(tmp), "scorer.pt2": _load_exported(tmp, scorer.num_items)}
        parity = check_parity(loaded, reference(scorer), parity_batches(scorer), PARITY_K)
        failed = {name: result for name, result in parity.items() if not result.ok(atol)}
        if failed:
            raise BundleError(f"export parity check failed for {path}: {failed}")
        full = {
            "format": mf.FORMAT,
            "format_version": mf.FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **manifest,
            "versions": mf.versions(),
            "scorer": {
                "inputs": ["items", "k", "exclude", *_context_inputs(scorer)],
                "outputs": ["indices", "scores"],
                "context_inputs": _context_inputs(scorer),
                "request_inputs": request_inputs(scorer),  # [B, C] inputs: table size of each column
                "pad_index": PAD_INDEX,
                "unknown_index": UNKNOWN_INDEX,
                "num_items": scorer.num_items,
                "max_len": scorer.max_len,
                "exclude_history": scorer.exclude_history,
                "rules": scorer.rules.describe(),
                "export_example_shape": list(EXPORT_EXAMPLE_SHAPE),
            },
            "parity": {name: result.to_dict() for name, result in parity.items()},
        }
        write_text_atomic(tmp / mf.CARD, render_card(full))
        full["files"] = mf.file_entries(tmp)
        digest = mf.write_manifest(tmp, full)
        if key is not None:
            write_signature(tmp, digest, key)
    return path


def _context_inputs(scorer: TopKScorer) -> list[str]:
    return [name for name, used in (("events", scorer.uses_events), ("time_gaps", scorer.uses_time_gaps),
                                    ("context", scorer.uses_context), ("user", scorer.uses_user)) if used]


def _load_scripted(folder: Path) -> torch.jit.ScriptModule:
    with torchscript_deprecation_silenced():
        return torch.jit.load(str(folder / mf.SCRIPTED), map_location="cpu")


def _load_exported(folder: Path, num_items: int) -> nn.Module:
    return ProgramScorer(torch.export.load(folder / mf.EXPORTED).module(), num_items)


@dataclass
class Bundle:
    """A verified bundle: the manifest, the TorchScript scorer and the item table.

    ``recommend`` maps original item ids to indices (unseen ids -> unknown), scores them and maps the top
    items back to original ids.
    """

    path: Path
    manifest: dict[str, Any]
    scorer: torch.jit.ScriptModule
    items: pl.DataFrame

    @cached_property
    def vocabulary(self) -> Vocabulary:
        """Original item ids in index order (padding and unknown reserved)."""
        ids = self.items.sort("index").get_column(ITEM).to_list()[FIRST_INDEX:]
        return Vocabulary(ids, name=ITEM)

    def program(self) -> nn.Module:
        """The torch.export program (``scorer.pt2``), called like ``scorer`` (``exclude`` optional)."""
        return _load_exported(self.path, self.manifest["scorer"]["num_items"])

    def encode(self, histories: Sequence[Sequence[str]]) -> Tensor:
        """Original-id histories (oldest first) -> ``[B, L]`` int64 indices, left-padded."""
        vocabulary = self.vocabulary
        length = max((len(h) for h in histories), default=0) or 1
        rows = [[PAD_INDEX] * (length - len(h)) + [vocabulary.index(i) for i in h] for h in histories]
        return torch.tensor(rows, dtype=torch.long)

    def recommend(
        self, histories: Sequence[Sequence[str]], k: int = 10, **context: Tensor
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(item_id, score)`` per history of original ids, with the TorchScript scorer: only
        items that may be recommended (fewer than ``k`` when fewer are left), never the history, padding,
        the unknown item or a ``-inf`` score; no histories give an empty list. Ids the bundle does not know
        are read as the unknown item and reported with one ``UnknownItemWarning`` (a history without a
        known item gets the training popularity prior).

        ``context``: ``events`` / ``time_gaps`` ``[B, L]`` aligned with :meth:`encode`'s output when the
        model reads them (default: the unknown event type / first-event bucket at every history item), and
        the request's ``context`` / ``user`` ids ``[B, C]`` (see :meth:`encode_request`; default unknown).
        """
        if len(histories) == 0:
            return []
        self._warn_unknown(histories)
        items = self.encode(histories)  # [B, L]
        request = self.manifest["scorer"].get("request_inputs", {})
        for name in self.manifest["scorer"]["context_inputs"]:
            if name in request:
                context.setdefault(name, torch.full((len(items), len(request[name])), UNKNOWN_INDEX, dtype=torch.long))
            else:
                context.setdefault(name, torch.where(items > PAD_INDEX, UNKNOWN_INDEX, PAD_INDEX))
        with torch.no_grad():
            indices, scores = self.scorer(items, k, None, **context)
        decoded = self.vocabulary.decode
        return [[(item, float(s)) for item, s in zip(decoded(row), score_row, strict=True)
                 if item is not None and s != float("-inf")]
                for row, score_row in zip(indices.tolist(), scores.tolist(), strict=True)]

    def _warn_unknown(self, histories: Sequence[Sequence[str]]) -> None:
        vocabulary = self.vocabulary
        unknown = sorted({str(i) for h in histories for i in h if i not in vocabulary})
        if unknown:
            blind = sum(1 for h in histories if h and not any(i in vocabulary for i in h))
            shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
            warnings.warn(f"{len(unknown)} item id(s) not in the bundle's catalog ({len(vocabulary) - FIRST_INDEX} "
                          f"items, e.g. {vocabulary.ids[0]!r}), read as unknown: {shown}; {blind} of "
                          f"{len(histories)} histories have no known item and get the popularity prior",
                          UnknownItemWarning, stacklevel=3)

    def encode_request(self, name: str, rows: Sequence[Mapping[str, str]]) -> Tensor:
        """Request values -> ``[B, C]`` int64 ids for ``recommend(..., context=...)`` (``name="context"``,
        e.g. ``[{"device": "mobile", "time_of_day": "evening", "session_length": "0"}]``) or ``user=``:
        values the training data never had, and columns a row leaves out, read as unknown."""
        data = self.manifest["data"]
        columns = data["context_features" if name == "context" else "user_features"]
        values = data.get("request_values", {}).get(name, {})
        index = {column: {v: i + FIRST_INDEX for i, v in enumerate(values.get(column, []))} for column in columns}
        return torch.tensor([[index[c].get(str(row.get(c)), UNKNOWN_INDEX) for c in columns] for row in rows],
                            dtype=torch.long).reshape(len(rows), len(columns))


def load_bundle(path: str | Path, *, key_file: str | Path | None = None) -> Bundle:
    """Verify a bundle (manifest digest, format, versions, its exact set of files and their SHA-256, and the
    signature when a key is set: ``key_file``, else ``$XSELL_BUNDLE_KEY``) and load its TorchScript scorer
    and items.

    Raises ``BundleError`` naming the file when the bundle is missing, partial, has extra files, was
    tampered with, is unsigned or signed with another key while a key is set, or was written by an
    unsupported version.
    """
    path = Path(path)
    manifest = mf.verify(path, bundle_key(key_file))
    try:
        scorer = _load_scripted(path)
        items = pl.read_parquet(path / mf.ITEMS)
    except Exception as exc:  # noqa: BLE001 - checksums matched, so the writer produced a bad file
        raise BundleError(f"cannot load bundle {path}: {exc}") from exc
    return Bundle(path=path, manifest=manifest, scorer=scorer, items=items)
