"""What the ranker reads about one (request, candidate) pair: numeric features, standardised.

Per candidate: each generator's score and ``log1p`` rank (rank ``per_generator + 1`` when that generator did not
retrieve it) and whether it retrieved it; the candidate's log training popularity; the request's log history
length; how often the candidate occurs in the history (0 when history items are never candidates). Item feature ids (category, brand, ...) of the candidate and of the newest history item are
embedded inside the ranker (:class:`xsell.ranking.ranker.RankerMLP`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def numeric_features(values: Tensor, ranks: Tensor, items: Tensor, per_generator: int, log_popularity: Tensor,
                     history: Tensor, first_index: int) -> Tensor:
    """``[B, C, 3 G + 3]`` features of the candidates ``items`` ``[B, C]``.

    Args:
        values / ranks: ``[G, B, C]`` from :func:`xsell.ranking.candidates.retrieve`.
        log_popularity: ``[N]`` ``log1p`` training events per item. history: ``[B, L]`` the histories.
    """
    history_length = (history >= first_index).sum(1)  # [B]
    repeats = (items.unsqueeze(2) == history.unsqueeze(1)).sum(2).to(torch.float32)  # [B, C] times in history
    retrieved = (ranks <= per_generator).to(torch.float32)  # [G, B, C]
    per_generator_features = torch.cat([values, torch.log1p(ranks.to(torch.float32)), retrieved])  # [3G, B, C]
    popularity = log_popularity[items].unsqueeze(0)  # [1, B, C]
    length = torch.log1p(history_length.to(torch.float32)).view(1, -1, 1).expand_as(popularity)  # [1, B, C]
    seen = torch.log1p(repeats).unsqueeze(0)  # [1, B, C]
    return torch.cat([per_generator_features, popularity, length, seen]).permute(1, 2, 0)  # [B, C, F]


class Standardizer(nn.Module):
    """``(x - mean) / std`` per feature, with mean and std measured on the ranker's training rows."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))

    def fit(self, features: Tensor, valid: Tensor) -> Standardizer:
        """Measure on the ``valid`` ``[B, C]`` rows of ``features`` ``[B, C, F]``."""
        rows = features[valid]  # [R, F]
        self.mean.copy_(rows.mean(0))
        self.std.copy_(rows.std(0, unbiased=False).clamp(min=1e-6))
        return self

    def forward(self, features: Tensor) -> Tensor:
        return (features - self.mean) / self.std
