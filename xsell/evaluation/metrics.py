"""Ranking metrics computed from the rank of each (single) target, accumulated exactly over batches.

With one relevant item per prediction: HitRate@K = Recall@K = [rank <= K], Precision@K = hit / K,
NDCG@K = 1 / log2(rank + 1) when hit, MRR@K = MAP@K = 1 / rank when hit. Sums are accumulated in float64
and divided once, so results do not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

METRICS = ("ndcg", "recall", "hit", "mrr", "precision", "map")


def metrics_from_ranks(ranks: Tensor, ks: Iterable[int], prefix: str = "") -> dict[str, Tensor]:
    """Per-row metric values ``{"ndcg@10": [B], ...}`` for 1-based ``ranks``."""
    ranks = ranks.double()
    out: dict[str, Tensor] = {}
    for k in ks:
        hit = (ranks <= k).double()
        out[f"{prefix}ndcg@{k}"] = hit / torch.log2(ranks + 1.0)
        out[f"{prefix}recall@{k}"] = hit
        out[f"{prefix}hit@{k}"] = hit
        out[f"{prefix}mrr@{k}"] = hit / ranks
        out[f"{prefix}precision@{k}"] = hit / k
        out[f"{prefix}map@{k}"] = hit / ranks
    return out


class RankingAccumulator:
    """Sums per-row metrics over batches; ``compute()`` returns means as plain floats."""

    def __init__(self, ks: Iterable[int] = (10, 20), prefix: str = "") -> None:
        self.ks = tuple(ks)
        self.prefix = prefix
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def update(self, ranks: Tensor) -> None:
        for name, values in metrics_from_ranks(ranks.detach().cpu(), self.ks, self.prefix).items():
            self.sums[name] = self.sums.get(name, 0.0) + float(values.sum())
        self.count += int(ranks.numel())

    def sum_over_processes(self, all_reduce_sum: Callable[[Tensor], Tensor]) -> None:
        """Replace this process's sums by those of all processes, each of which accumulated its share of
        the rows: ``all_reduce_sum`` sums a float64 tensor over the processes (every one must call this)."""
        names = list(metrics_from_ranks(torch.zeros(0), self.ks, self.prefix))  # the same layout everywhere
        totals = torch.tensor([self.sums.get(n, 0.0) for n in names] + [float(self.count)], dtype=torch.float64)
        totals = all_reduce_sum(totals).cpu()
        self.sums = dict(zip(names, totals[:-1].tolist(), strict=True))
        self.count = int(totals[-1])

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            return {}
        return {name: total / self.count for name, total in self.sums.items()}
