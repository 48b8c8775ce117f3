"""Two-stage recommendation: retrieve ``N`` candidates with a two-tower, re-score them with a sequence model.

``TwoStageScorer`` is a scorer like any other (``batch -> [B, num_items]``): the re-ranker's scores on the
candidates and ``-inf`` everywhere else, so the standard full-ranking evaluation
(``xsell.evaluation.protocol.evaluate_scorer``) measures the whole pipeline: a target the first stage missed
ranks below every candidate (pessimistic ties give it no credit).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xsell.data.batch import SequenceBatch
from xsell.retrieval.retriever import Retriever


class TwoStageScorer:
    """Candidates from ``retriever`` re-scored by ``ranker``.

    Args:
        retriever: first stage (query tower + item index).
        ranker: second stage: any model with ``encode(batch) -> [B, D]`` and ``item_embeddings() -> [N, D]``,
            or None to keep the retriever's own scores (candidate generation alone).
        candidates: ``N``, items retrieved per history.
        exclude_seen: drop history items from the candidates.
    """

    def __init__(self, retriever: Retriever, ranker: nn.Module | None, candidates: int = 100,
                 exclude_seen: bool = True) -> None:
        self.retriever = retriever
        self.ranker = ranker
        self.candidates = candidates
        self.exclude_seen = exclude_seen

    @torch.no_grad()
    def __call__(self, batch: SequenceBatch) -> Tensor:
        found = self.retriever.retrieve(batch, self.candidates, exclude_seen=self.exclude_seen)
        keys = torch.from_numpy(found.keys)  # [B, N] vocabulary indices, -1 where none
        valid = keys >= 0
        safe = keys.clamp(min=0)
        if self.ranker is None:
            scores = torch.from_numpy(found.scores)  # [B, N]
            num_items = len(self.retriever.vocab)
        else:
            self.ranker.eval()
            items = self.ranker.item_embeddings()  # [num_items, D]
            user = self.ranker.encode(batch)  # [B, D]
            scores = torch.einsum("bd,bnd->bn", user, items[safe])  # [B, N]
            num_items = items.shape[0]
        out = torch.full((len(batch), num_items), float("-inf"))
        out.scatter_(1, safe, torch.where(valid, scores.float(), torch.tensor(float("-inf"))))
        return out
