"""Where does the target land in the ranking? Full ranking over the catalog by default.

Ties are broken pessimistically: the target ranks below every other item with an equal score, so a model
that gives every item the same score earns nothing. Padding and the unknown item are never ranked; a
target that was unknown to training (index 1) therefore always misses. Exclusion of already-seen items
never removes the target itself.
"""

from __future__ import annotations

import torch
from torch import Tensor

from xsell.data.schema import FIRST_INDEX, UNKNOWN_INDEX

MISS = torch.iinfo(torch.int64).max  # the rank of a target that cannot be found: beyond any cut-off


def target_ranks(scores: Tensor, targets: Tensor, exclude: Tensor | None = None) -> Tensor:
    """1-based pessimistic rank of each target among all catalog items.

    One pass over the scores, no copy: items scoring at least the target are counted, then padding,
    unknown and excluded items among them are subtracted.

    Args:
        scores: ``[B, N]`` scores of every item index.
        targets: ``[B]`` target item indices.
        exclude: ``[B, M]`` item indices to drop from the ranking (0 pads, repeats allowed), e.g. the
            user's history; the target itself is never dropped.
    Returns:
        ``[B]`` ranks (int64); unknown targets and non-finite target scores get ``MISS`` (a certain miss).
    """
    target_score = scores.gather(1, targets.unsqueeze(1))  # [B, 1]
    at_least = (scores >= target_score).sum(1)  # counts the target itself: ties go against it
    at_least -= (scores[:, :FIRST_INDEX] >= target_score).sum(1)
    if exclude is not None and exclude.numel():
        unique = first_occurrences(exclude) & (exclude >= FIRST_INDEX) & (exclude != targets.unsqueeze(1))
        at_least -= ((scores.gather(1, exclude) >= target_score) & unique).sum(1)
    return torch.where(misses(targets, target_score), MISS, at_least)


def first_occurrences(index: Tensor) -> Tensor:
    """``[B, M]`` bool: True at the first occurrence of each value in its row."""
    ordered, order = index.sort(dim=1, stable=True)
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    return torch.zeros_like(first).scatter_(1, order, first)


def sampled_target_ranks(
    scores: Tensor,
    targets: Tensor,
    seen: Tensor | None,
    num_negatives: int = 100,
    generator: torch.Generator | None = None,
    weights: Tensor | None = None,
) -> Tensor:
    """Rank of the target among ``num_negatives`` items drawn from items the user never saw (``seen``
    ``[B, M]``, 0 pads), or from every item but the target when ``seen`` is None (seen items kept).

    Uniformly by default: the protocol of the SASRec paper (target ranked among 101). With ``weights``
    (``[N]``, e.g. training item counts) items are drawn without replacement with probability proportional
    to their weight (popularity-sampled negatives; items of weight 0 are never drawn). Results are only
    comparable with other sampled numbers of the same kind and must be reported as ``sampled_*``.
    """
    batch, num_items = scores.shape
    if num_items - FIRST_INDEX < num_negatives:
        raise ValueError(f"sampled evaluation needs at least {num_negatives} catalog items, got "
                         f"{num_items - FIRST_INDEX}")
    allowed = torch.ones(batch, num_items, dtype=torch.bool, device=scores.device)
    allowed[:, :FIRST_INDEX] = False
    if seen is not None:
        allowed.scatter_(1, seen, False)
    allowed.scatter_(1, targets.unsqueeze(1), False)
    if weights is not None:
        allowed &= (weights > 0).unsqueeze(0)
    # some user may have seen almost all items
    if seen is not None and num_items - FIRST_INDEX - seen.shape[1] - 1 < num_negatives:
        short = allowed.sum(1) < num_negatives  # those draw from all other items
        if short.any():
            allowed[short, FIRST_INDEX:] = True
            allowed[short] = allowed[short].scatter(1, targets[short].unsqueeze(1), False)
    negatives = _random_subsets(allowed, num_negatives, generator, weights)  # [B, K]
    target_score = scores.gather(1, targets.unsqueeze(1))  # [B, 1]
    ranks = 1 + (scores.gather(1, negatives) >= target_score).sum(1)
    return torch.where(misses(targets, target_score), MISS, ranks)


def _random_subsets(allowed: Tensor, size: int, generator: torch.Generator | None,
                    weights: Tensor | None = None) -> Tensor:
    """``[B, size]`` indices drawn without replacement among each row's allowed columns, uniformly or, with
    ``weights`` ``[N]``, by successive sampling proportional to them.

    The first ``size`` distinct allowed values of an i.i.d. stream (uniform, or weighted) are exactly such a
    sample, so a short stream of random draws is enough when most items are allowed (cheap on large
    catalogs). Rows whose stream runs short fall back to the allowed items with the largest random keys
    (uniform keys, or Gumbel keys plus log-weights: the same distribution).
    """
    batch, num_items = allowed.shape
    draws = 2 * size + 64
    if weights is None:
        stream = torch.randint(FIRST_INDEX, num_items, (batch, draws), generator=generator, device=allowed.device)
    else:
        probabilities = weights.to(device=allowed.device, dtype=torch.float64).clone()
        probabilities[:FIRST_INDEX] = 0.0
        stream = torch.multinomial(probabilities, batch * draws, replacement=True, generator=generator)
        stream = stream.view(batch, draws)  # [B, M]
    valid = allowed.gather(1, stream) & first_occurrences(stream)
    taken = valid & (valid.cumsum(1) <= size)
    complete = taken.sum(1) == size
    out = torch.empty(batch, size, dtype=torch.long, device=allowed.device)
    out[complete] = stream[complete][taken[complete]].view(-1, size)
    if not complete.all():
        rest = allowed[~complete]
        keys = torch.rand(rest.shape, generator=generator, device=allowed.device, dtype=torch.float64)
        if weights is not None:  # Gumbel-top-k: log w - log(-log u)
            keys = weights.to(keys).log().unsqueeze(0) - (-keys.clamp(min=1e-300).log()).log()
        out[~complete] = keys.masked_fill_(~rest, -float("inf")).topk(size, dim=1).indices
    return out


def misses(targets: Tensor, target_score: Tensor) -> Tensor:
    """Targets that can never be hits: the unknown item, or a NaN / infinite score (a diverged model)."""
    return (targets == UNKNOWN_INDEX) | ~torch.isfinite(target_score.squeeze(1))
