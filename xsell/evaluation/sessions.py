"""The session-based protocol of the GRU4Rec papers: every next event of a held-out session, from its prefix.

A session ``[i1, i2, ..., in]`` makes ``n - 1`` predictions: ``i(t+1)`` from ``[i1 .. it]``, the model's state
starting from nothing at ``i1``. Each prediction ranks the target against the whole catalogue with no item
excluded (an item already in the session can come again, and the official GRU4Rec evaluation keeps it), ties
pessimistically (the target ranks below every item with an equal score: the official code's
``conservative`` mode), padding and the unknown index never ranked. Recall@K and MRR@K are means over
predictions, not over sessions, as the official evaluation averages them.

Items a model was not trained on should be dropped from the sessions beforehand, as the official code does
(see :func:`xsell.data.splits.held_out_users`); a target left at the unknown index counts as a miss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xsell.data.schema import PAD_INDEX
from xsell.evaluation.blocked import ITEM_BLOCK, blocked_target_ranks
from xsell.evaluation.metrics import RankingAccumulator

KNOWN_EVENT = 1  # the event-type index of an event whose type the data does not give (as the encoder uses)


def session_prefixes(sessions: Sequence[Sequence[int]], max_len: int) -> tuple[Tensor, Tensor]:
    """Every (prefix, next item) pair of the sessions, in session order.

    Args:
        sessions: item indices per session, oldest first. max_len: prefix columns kept (the most recent).
    Returns:
        ``(prefixes [P, max_len] int64 left-padded with 0, targets [P] int64)``, ``P = sum(len(s) - 1)``.
    """
    rows, targets = [], []
    for session in sessions:
        for t in range(1, len(session)):
            prefix = list(session[max(0, t - max_len):t])
            rows.append([PAD_INDEX] * (max_len - len(prefix)) + prefix)
            targets.append(session[t])
    if not rows:
        return torch.zeros(0, max_len, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.tensor(rows, dtype=torch.long), torch.tensor(targets, dtype=torch.long)


@torch.no_grad()
def evaluate_sessions(
    model: nn.Module,
    sessions: Sequence[Sequence[int]],
    ks: Sequence[int] = (20,),
    *,
    max_len: int | None = None,
    batch_size: int = 512,
    block: int = ITEM_BLOCK,
) -> dict[str, float]:
    """Full-ranking metrics of predicting every next event of every session from its prefix.

    Args:
        model: anything with ``encode_sequence(items, events, time_gaps) -> [B, D]`` and ``item_embeddings()
            -> [N, D]`` (every xsell sequence model); it reads item ids only here (events of an unknown type,
            no time gaps). Put it in eval mode first.
        sessions: item indices (the model's vocabulary) per session, oldest first.
        ks: cut-offs. max_len: prefix length fed to the model (default ``model.max_len``).
        batch_size: predictions encoded at once. block: catalogue items scored at once.
    Returns:
        ``{"recall@20": ..., "mrr@20": ..., ...}`` (every metric of
        :class:`~xsell.evaluation.metrics.RankingAccumulator`) and ``"predictions"``, their count.
    """
    max_len = max_len or model.max_len
    prefixes, targets = session_prefixes(sessions, max_len)
    items = model.item_embeddings()  # [N, D]
    accumulator = RankingAccumulator(ks)
    for start in range(0, len(targets), batch_size):
        history = prefixes[start:start + batch_size]  # [B, L]
        present = (history != PAD_INDEX).long()
        queries = model.encode_sequence(history, present * KNOWN_EVENT, torch.zeros_like(history))  # [B, D]
        accumulator.update(blocked_target_ranks(queries, items, targets[start:start + batch_size], block=block))
    metrics = accumulator.compute() if accumulator.count else {}
    return {**metrics, "predictions": float(accumulator.count)}
