"""Proof that a serving artifact ranks like the trained model: an eager reference and a top-k comparison.

The reference is written independently of :class:`~xsell.export.scorer.TopKScorer`: the model reads the
raw history (no fitting to ``max_len``, no extra padding row), scores every catalog item, and exclusions
are applied by indexing. A compiled scorer agrees with it when, position by position, the top-k indices
are identical and the scores agree within a tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from xsell.data.schema import FIRST_INDEX, PAD_INDEX, UNKNOWN_INDEX

TopK = tuple[Tensor, Tensor]  # (indices [B, k] int64, scores [B, k] float32)


@torch.no_grad()
def eager_topk(
    model: nn.Module,
    prior: Tensor,
    items: Tensor,
    k: int,
    exclude: Tensor | None = None,
    events: Tensor | None = None,
    time_gaps: Tensor | None = None,
    *,
    exclude_history: bool = True,
    rules: nn.Module | None = None,
    context: Tensor | None = None,
    user: Tensor | None = None,
) -> TopK:
    """The trained model's own top-k for ``[B, L]`` histories, with the scorer's serving rules.

    ``prior`` is the ``[N]`` popularity prior (see :func:`~xsell.export.scorer.popularity_prior`) used for
    rows without a known item; padding, the unknown item, history items (by default) and ``exclude``
    (``[B, N]`` bool) are never recommended; a slot with no eligible item left is ``(0, -inf)``. ``rules``
    (``ScoreRules``, eager) rewrite the scores first.
    ``context`` / ``user`` (``[B, C]`` / ``[B, K]``, ids within the model's tables) are the request's side.
    """
    catalog = model.item_embeddings()  # [N, D]
    num_items = catalog.shape[0]
    items = items.masked_fill((items < 0) | (items >= num_items), UNKNOWN_INDEX)  # [B, L]
    zeros = torch.zeros_like(items)
    request = () if context is None and user is None else (context, user)  # models without a request side
    user = model.encode_sequence(items, zeros if events is None else events,
                                 zeros if time_gaps is None else time_gaps, *request)  # [B, D]
    scores = user @ catalog.T  # [B, N]
    empty = (items < FIRST_INDEX).all(dim=1)  # [B]
    scores[empty] = prior
    if rules is not None:
        scores = rules(scores, items, zeros if events is None else events)
    scores[:, :FIRST_INDEX] = float("-inf")
    if exclude_history:
        rows = torch.arange(len(items)).unsqueeze(1).expand_as(items)  # [B, L]
        scores[rows, items] = float("-inf")
    if exclude is not None:
        scores[exclude] = float("-inf")
    values, indices = scores.topk(min(k, num_items), dim=1)
    return indices.masked_fill(values == float("-inf"), PAD_INDEX), values  # empty slots: padding


@dataclass
class Parity:
    """How far a candidate's top-k is from the reference's.

    Attributes:
        rows: histories compared. k: list length.
        index_mismatches: positions whose item index differs, not counting a swap within a tie (the
            candidate's item is in the reference's top-k with a reference score within ``tie_atol`` of
            that position's: float rounding may order near-equal scores either way); 0 means the same
            top-k lists up to such swaps.
        max_abs_diff: largest score difference at the same position (``-inf`` equal to ``-inf`` counts 0).
    """

    rows: int
    k: int
    index_mismatches: int
    max_abs_diff: float

    def ok(self, atol: float = 1e-5) -> bool:
        return self.index_mismatches == 0 and self.max_abs_diff <= atol

    def to_dict(self) -> dict:
        return asdict(self)


def compare_topk(reference: TopK, candidate: TopK, tie_atol: float = 1e-6) -> Parity:
    """Position-wise comparison of two ``(indices, scores)`` results of the same shape; a different item at
    a position is a swap within a tie, not a mismatch, when the reference ranks that item with a score
    within ``tie_atol`` of the reference's score at the position."""
    ref_indices, ref_scores = reference
    indices, scores = candidate
    if indices.shape != ref_indices.shape:
        raise ValueError(f"top-k shapes differ: {tuple(indices.shape)} vs reference {tuple(ref_indices.shape)}")
    same = ref_scores == scores  # also True where both are -inf
    diff = torch.where(same, torch.zeros_like(scores), (ref_scores - scores).abs())
    return Parity(rows=int(indices.shape[0]), k=int(indices.shape[1]),
                  index_mismatches=int(((indices != ref_indices) & ~tied_swap(reference, indices, tie_atol)).sum()),
                  max_abs_diff=float(diff.max()) if diff.numel() else 0.0)


def tied_swap(reference: TopK, indices: Tensor, tie_atol: float) -> Tensor:
    """``[B, k]`` True where the reference ranks ``indices[b, p]`` with a score within ``tie_atol`` of its
    own score at position ``p`` (items outside the reference's top-k are never tied)."""
    ref_indices, ref_scores = reference
    width = int(max(ref_indices.max(), indices.max())) + 1 if indices.numel() else 1
    score_of = torch.full((ref_indices.shape[0], width), float("nan"), dtype=ref_scores.dtype)  # [B, N']
    score_of.scatter_(1, ref_indices, ref_scores)
    candidate_scores = score_of.gather(1, indices)  # [B, k], nan where the reference did not rank it
    return ((candidate_scores - ref_scores).abs() <= tie_atol) | (candidate_scores == ref_scores)


def merge(results: list[Parity]) -> Parity:
    """One summary of several comparisons (e.g. one per batch)."""
    return Parity(rows=sum(r.rows for r in results), k=max(r.k for r in results),
                  index_mismatches=sum(r.index_mismatches for r in results),
                  max_abs_diff=max(r.max_abs_diff for r in results))


def check_parity(
    scorers: dict[str, Callable[..., TopK]],
    reference: Callable[..., TopK],
    batches: list[dict[str, Tensor]],
    k: int,
) -> dict[str, Parity]:
    """Each scorer against the reference over ``batches``, each a dict with ``items``, ``exclude`` and,
    when the model reads them, ``events`` / ``time_gaps``; called as ``f(items, k, exclude, **context)``."""
    results: dict[str, list[Parity]] = {name: [] for name in scorers}
    with torch.no_grad():
        for batch in batches:
            context = {name: value for name, value in batch.items() if name not in ("items", "exclude")}
            expected = reference(batch["items"], k, batch.get("exclude"), **context)
            for name, scorer in scorers.items():
                results[name].append(compare_topk(expected, scorer(batch["items"], k, batch.get("exclude"),
                                                                   **context)))
    return {name: merge(parts) for name, parts in results.items()}


def random_histories(
    num_items: int,
    shapes: Sequence[tuple[int, int]],
    *,
    context: dict[str, int] | None = None,
    request: dict[str, Sequence[int]] | None = None,
    seed: int = 0,
) -> list[dict[str, Tensor]]:
    """One batch per ``(batch, length)`` of random histories: random lengths (some empty), about 5% unknown
    items and 2% indices outside the catalog, an exclusion mask on about 1% of the items, random
    ``context`` values (``{"events": table size, ...}``) at the non-padding positions, and random ``[B, C]``
    request ids (``{"context": [table size per column], "user": [...]}``, padding and unknown included)."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for batch, length in shapes:
        items = torch.randint(FIRST_INDEX, num_items, (batch, length), generator=generator)  # [B, L]
        lengths = torch.randint(0, length + 1, (batch, 1), generator=generator)  # [B, 1]; 0 = empty history
        items = items.masked_fill(torch.arange(length) < length - lengths, PAD_INDEX)
        odd = torch.rand(batch, length, generator=generator)
        items = torch.where((odd < 0.05) & (items > PAD_INDEX), UNKNOWN_INDEX, items)
        items = torch.where((odd > 0.98) & (items > PAD_INDEX), num_items + 3, items)
        exclude = torch.rand(batch, num_items, generator=generator) < 0.01  # [B, N]
        extra = {name: torch.randint(1, size, (batch, length), generator=generator).masked_fill(
            items == PAD_INDEX, PAD_INDEX) for name, size in (context or {}).items()}
        for name, sizes in (request or {}).items():
            extra[name] = torch.stack([torch.randint(0, size, (batch,), generator=generator) for size in sizes], 1)
        batches.append({"items": items, "exclude": exclude, **extra})
    return batches


def cut_histories(
    columns: dict[str, Tensor], num_items: int, shapes: Sequence[tuple[int, int]]
) -> list[dict[str, Tensor]]:
    """Consecutive rows of left-padded ``[R, L]`` columns (``items`` and any context) as batches of the
    given ``(batch, length)``: the last ``length`` columns, or left-padded to ``length`` when longer; with
    an all-False exclusion mask."""
    batches, start = [], 0
    for batch, length in shapes:
        rows = {name: values[start:start + batch] for name, values in columns.items()}
        if len(rows["items"]) < batch:
            raise ValueError(f"{sum(b for b, _ in shapes)} rows asked, {len(columns['items'])} given")
        start += batch
        rows = {name: torch.cat([values.new_zeros(batch, max(length - values.shape[1], 0)), values],
                                dim=1)[:, -length:] for name, values in rows.items()}
        batches.append({**rows, "exclude": torch.zeros(batch, num_items, dtype=torch.bool)})
    return batches
