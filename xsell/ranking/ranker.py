"""Stage 2 of the hybrid: a small MLP that re-scores each request's candidates, trained listwise.

Each request's candidates form one softmax (ListNet / sampled-softmax style with the candidates as the only
negatives); the loss is the cross-entropy of the true next item, so the ranker learns to put it first among
what stage 1 retrieved. Requests whose target stage 1 missed carry no signal and are left out of training.

The loop is a plain one over precomputed tensors (seconds on a CPU, no checkpoints or devices to manage);
the epoch kept is the one with the best mean reciprocal rank on a held-out share of the requests.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Optional

import torch
from torch import Tensor, nn

from xsell.ranking.features import Standardizer


class RankerMLP(nn.Module):
    """Scores ``[B, C]`` from standardised numeric features and, optionally, item feature embeddings.

    Args:
        width: numeric features per candidate. hidden: hidden units of the two hidden layers.
        item_features: ``[N, F]`` int64 feature ids of every item (one column per feature slot, 0 padding),
            or None. Each slot's ids get their own rows of one embedding table (``dim`` wide); the candidate's
            and the newest history item's slot embeddings are summed, and the MLP reads both and their
            product (so "a camera bag after a camera" can be learned).
        context_sizes: table size of each request-context column (device, time of day, ...; ids from
            :func:`xsell.data.context.encode_context`), or empty when the requests carry none. The columns'
            embeddings are summed and read beside every candidate's features.

    ``forward(features [B, C, width], items [B, C], last_item [B], context [B, K] or None) -> [B, C]``.
    """

    def __init__(self, width: int, hidden: int = 64, item_features: Tensor | None = None, dim: int = 8,
                 context_sizes: Sequence[int] = ()) -> None:
        super().__init__()
        self.standardize = Standardizer(width)
        self.uses_context = len(context_sizes) > 0
        sizes = torch.tensor(list(context_sizes) or [1], dtype=torch.long)
        self.register_buffer("context_sizes", sizes)  # [K]
        self.register_buffer("context_offsets", torch.cumsum(sizes, 0) - sizes)  # [K] rows of one table
        self.context_embedding = nn.Embedding(int(sizes.sum()), dim)
        if self.uses_context:
            nn.init.normal_(self.context_embedding.weight, std=0.1)
            width += dim
        self.uses_item_features = item_features is not None and item_features.shape[1] > 0
        if self.uses_item_features:
            ids = item_features.to(torch.int64)
            sizes = ids.max(0).values + 1  # [F]
            offsets = torch.cumsum(sizes, 0) - sizes
            self.register_buffer("item_features", ids + offsets.unsqueeze(0))  # [N, F] rows of one table
            self.embedding = nn.Embedding(int(sizes.sum()), dim)
            nn.init.normal_(self.embedding.weight, std=0.1)
            width += 3 * dim
        else:
            self.register_buffer("item_features", torch.zeros(1, 0, dtype=torch.int64))
            self.embedding = nn.Embedding(1, 1)  # unused; keeps one scripted type
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, features: Tensor, items: Tensor, last_item: Tensor,
                context: Optional[Tensor] = None) -> Tensor:  # noqa: UP045 - TorchScript reads Optional[...]
        inputs = self.standardize(features)  # [B, C, W]
        if self.uses_item_features:
            candidate = self.embedding(self.item_features[items]).sum(2)  # [B, C, D]
            last = self.embedding(self.item_features[last_item]).sum(1).unsqueeze(1).expand_as(candidate)
            inputs = torch.cat([inputs, candidate, last, candidate * last], dim=2)
        if self.uses_context:
            if context is None:
                raise ValueError("this ranker reads the request's context: pass context [B, K] int64")
            known = (context >= 0) & (context < self.context_sizes.unsqueeze(0))  # out of table: unknown (1)
            ids = torch.where(known, context, 1) + self.context_offsets.unsqueeze(0)  # [B, K]
            request = self.context_embedding(ids).sum(1)  # [B, D]
            inputs = torch.cat([inputs, request.unsqueeze(1).expand(-1, inputs.shape[1], -1)], dim=2)
        return self.mlp(inputs).squeeze(2)  # [B, C]


@dataclass
class RankerRows:
    """The ranker's training requests: features ``[R, C, W]``, candidates ``items`` ``[R, C]``, ``valid``
    ``[R, C]``, ``last_item`` ``[R]`` and ``label`` ``[R]``, the target's slot among the candidates (-1: stage 1
    missed the target; such a request trains nothing and counts as a miss in the held-out score), and the
    request's ``context`` ``[R, K]`` (``K = 0`` without context)."""

    features: Tensor
    items: Tensor
    valid: Tensor
    last_item: Tensor
    label: Tensor
    context: Tensor

    def __len__(self) -> int:
        return len(self.label)

    @staticmethod
    def concat(parts: list[RankerRows]) -> RankerRows:
        return RankerRows(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(RankerRows)))

    def take(self, rows: Tensor) -> RankerRows:
        return RankerRows(*(getattr(self, f.name)[rows] for f in fields(RankerRows)))

    def score(self, ranker: RankerMLP) -> Tensor:
        """``[R, C]`` the ranker's scores of these requests' candidates."""
        return ranker(self.features, self.items, self.last_item, self.context if ranker.uses_context else None)


def listwise_loss(scores: Tensor, valid: Tensor, label: Tensor) -> Tensor:
    """Mean cross-entropy of the target's slot over each request's valid candidates (``[R, C]``, ``[R]``)."""
    return nn.functional.cross_entropy(scores.masked_fill(~valid, float("-inf")), label)


def reciprocal_rank(scores: Tensor, valid: Tensor, label: Tensor) -> Tensor:
    """``[R]`` 1 / (pessimistic rank of the target among the valid candidates); 0 where ``label`` is -1."""
    scores = scores.masked_fill(~valid, float("-inf"))
    target = scores.gather(1, label.clamp(min=0).unsqueeze(1))
    return torch.where(label >= 0, 1.0 / (scores >= target).sum(1).to(torch.float32), 0.0)


def fit_ranker(ranker: RankerMLP, rows: RankerRows, *, extra: RankerRows | None = None, epochs: int = 30,
               lr: float = 3e-3,
               weight_decay: float = 1e-4, batch_size: int = 256, holdout: float = 0.1, seed: int = 0
               ) -> dict[str, float]:
    """Train ``ranker`` in place on ``rows``; keep the epoch with the best held-out mean reciprocal rank.

    ``holdout`` of the requests (stage-1 misses included, as rank-less misses) choose the epoch; the others
    whose target stage 1 retrieved train, with the ``extra`` requests (never held out); ``holdout=1`` holds
    out every request of ``rows`` (they only choose the epoch) and trains on ``extra`` alone. The held-out MRR is a full-ranking MRR of those requests (without a
    cut-off), so it also compares candidate settings. Returns ``{"epochs_run", "best_epoch", "holdout_mrr",
    "train_requests", "holdout_requests"}``.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(rows), generator=generator)
    held = len(rows) if holdout >= 1.0 else max(1, int(holdout * len(rows)))
    train, check = rows.take(order[held:]), rows.take(order[:held])
    if extra is not None:
        train = RankerRows.concat([train, extra])
    train = train.take(torch.nonzero(train.label >= 0).squeeze(1))
    if len(train) < 1:
        raise ValueError(f"no ranker training request: stage 1 retrieved none of the {len(rows) - held} targets "
                         "(holdout=1 trains on earlier targets only: set earlier_targets >= 1)")
    ranker.standardize.fit(train.features, train.valid)
    optimizer = torch.optim.AdamW(ranker.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_mrr, best_epoch = copy.deepcopy(ranker.state_dict()), -1.0, 0
    for epoch in range(1, epochs + 1):
        ranker.train()
        for batch in torch.randperm(len(train), generator=generator).split(batch_size):
            part = train.take(batch)
            loss = listwise_loss(part.score(ranker), part.valid, part.label)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        ranker.eval()
        with torch.no_grad():
            mrr = float(reciprocal_rank(check.score(ranker), check.valid, check.label).mean())
        if mrr > best_mrr:
            best, best_mrr, best_epoch = copy.deepcopy(ranker.state_dict()), mrr, epoch
    ranker.load_state_dict(best)
    ranker.eval()
    return {"epochs_run": epochs, "best_epoch": best_epoch, "holdout_mrr": best_mrr,
            "train_requests": len(train), "holdout_requests": len(check)}
