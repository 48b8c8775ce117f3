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


def mask_scores(scores: Tensor, exclude: Tensor | None = None, targets: Tensor | None = None) -> Tensor:
    """Set padding, unknown and (optionally) ``exclude`` items ``[B, M]`` to ``-inf`` (in place on a copy)."""
    scores = scores.clone()
    scores[:, :FIRST_INDEX] = float("-inf")
    if exclude is not None and exclude.numel():
        keep = scores.gather(1, targets.unsqueeze(1)) if targets is not None else None
        scores.scatter_(1, exclude, float("-inf"))
        if targets is not None:
            scores.scatter_(1, targets.unsqueeze(1), keep)
        scores[:, :FIRST_INDEX] = float("-inf")
    return scores


def target_ranks(scores: Tensor, targets: Tensor, exclude: Tensor | None = None) -> Tensor:
    """1-based pessimistic rank of each target among all catalog items.

    Args:
        scores: ``[B, N]`` scores of every item index.
        targets: ``[B]`` target item indices.
        exclude: ``[B, M]`` item indices to drop from the ranking (0 pads), e.g. the user's history.
    Returns:
        ``[B]`` ranks (int64); targets that are unknown items get rank ``N + 1`` (a certain miss).
    """
    masked = mask_scores(scores, exclude, targets)
    target_score = masked.gather(1, targets.unsqueeze(1))  # [B, 1]
    ranks = (masked >= target_score).sum(1)  # counts the target itself: ties go against it
    return torch.where(targets == UNKNOWN_INDEX, scores.shape[1] + 1, ranks)


def sampled_target_ranks(
    scores: Tensor,
    targets: Tensor,
    seen: Tensor,
    num_negatives: int = 100,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Rank of the target among ``num_negatives`` items drawn uniformly from items the user never saw.

    The protocol of the SASRec paper (target ranked among 101); results are only comparable with other
    sampled numbers and must be reported as ``sampled_*``.
    """
    batch, num_items = scores.shape
    allowed = torch.ones(batch, num_items, dtype=torch.bool, device=scores.device)
    allowed[:, :FIRST_INDEX] = False
    allowed.scatter_(1, seen, False)
    allowed.scatter_(1, targets.unsqueeze(1), False)
    weights = allowed.float()
    weights[weights.sum(1) == 0, FIRST_INDEX:] = 1.0  # degenerate: the user saw everything
    negatives = torch.multinomial(weights, num_negatives, replacement=False, generator=generator)  # [B, K]
    target_score = scores.gather(1, targets.unsqueeze(1))  # [B, 1]
    ranks = 1 + (scores.gather(1, negatives) >= target_score).sum(1)
    return torch.where(targets == UNKNOWN_INDEX, num_negatives + 1, ranks)
