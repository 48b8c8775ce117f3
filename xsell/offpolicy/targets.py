"""Target policies as action distributions over an impression log: scores from any xsell scorer, then a rule.

Off-policy estimators need ``pi(a | x_i, position)`` for every logged round ``i``: an array
``[n, n_actions]`` (one slot) or ``[n, n_actions, positions]`` (obp's ``action_dist``). It is derived in
two steps, both documented here so that an estimate says exactly which policy it is about:

1. **scores** ``[n, n_actions]`` of every action in every round: :func:`scorer_action_scores` runs any
   ``score(SequenceBatch) -> [B, V]`` (a model's ``score``, a baseline's) over the log's histories;
   :func:`recommendation_action_scores` reads a serving bundle's ``recommend(histories, k)`` (actions outside
   its top ``k`` score ``-inf``). Actions whose item the scorer does not know score ``-inf``; "show
   nothing" actions (item ``None``) score ``nothing_score``.
2. **a rule** from scores to probabilities: :func:`top_k_policy` (deterministic: slot ``p`` shows the
   ``p``-th best action; ties go to the lower action index; a slot with no finite-scored action left shows
   nothing, so its probabilities are 0), :func:`softmax_policy` (every slot draws independently from
   ``softmax(scores / temperature)``: a stochastic policy, with repeats across slots) or
   :func:`epsilon_greedy_probabilities` (one slot).

The distributions are dense, as obp's: ``n x n_actions x positions`` float64 numbers; restrict the action
space to the items the shop can show (or per-round candidates) when that is large.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.schema import PAD_INDEX, UNKNOWN_INDEX
from xsell.data.vocabulary import Vocabulary
from xsell.offpolicy.impressions import ImpressionLog

Recommend = Callable[[Sequence[Sequence[str]], int], list[list[tuple[str, float]]]]


def softmax_probabilities(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``[S, A]`` softmax of ``scores / temperature`` along actions (``-inf`` scores get probability 0)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = np.asarray(scores, dtype=np.float64) / temperature
    logits = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def epsilon_greedy_probabilities(scores: np.ndarray, epsilon: float) -> np.ndarray:
    """``[S, A]``: the best-scored action with probability ``1 - epsilon``, plus ``epsilon`` spread uniformly over
    all ``A`` actions (``epsilon = 0`` is the deterministic greedy policy)."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    scores = np.asarray(scores)
    probabilities = np.full(scores.shape, epsilon / scores.shape[1])
    probabilities[np.arange(scores.shape[0]), scores.argmax(axis=1)] += 1.0 - epsilon
    return probabilities


def sample_actions(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``[S]`` one action per row drawn from ``[S, A]`` probabilities (vectorised inverse CDF)."""
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(probabilities.shape[0])[:, None] * cumulative[:, -1:]
    return np.minimum((draws >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


def top_k_policy(scores: np.ndarray, k: int = 1) -> np.ndarray:
    """``[n, A, k]`` deterministic ranking: slot ``p`` shows the ``p``-th best finite-scored action."""
    scores = np.asarray(scores, dtype=np.float64)
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k must lie in [1, {scores.shape[1]}], got {k}")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # [n, k] ties: lower index first
    finite = np.isfinite(np.take_along_axis(scores, order, axis=1))  # [n, k]
    distribution = np.zeros((*scores.shape, k))
    rows, slots = np.nonzero(finite)
    distribution[rows, order[rows, slots], slots] = 1.0
    return distribution


def softmax_policy(scores: np.ndarray, temperature: float = 1.0, positions: int = 1) -> np.ndarray:
    """``[n, A, positions]``: every slot draws from ``softmax(scores / temperature)`` independently."""
    if positions < 1:
        raise ValueError(f"positions must be at least 1, got {positions}")
    return np.repeat(softmax_probabilities(scores, temperature)[:, :, None], positions, axis=2)


def _action_items(action_items: Sequence[str | None] | np.ndarray, n: int) -> np.ndarray:
    """``[n, A]`` object array of item ids (``None`` = show nothing) from ``[A]`` or ``[n, A]``."""
    items = np.asarray(action_items, dtype=object)
    if items.ndim == 1:
        items = np.broadcast_to(items, (n, items.size))
    if items.ndim != 2 or items.shape[0] != n:
        raise ValueError(f"action_items must be [n_actions] or [{n}, n_actions], got {items.shape}")
    return items


def request_batch(histories: pl.Series, vocabulary: Vocabulary, max_len: int) -> SequenceBatch:
    """A ``SequenceBatch`` of the last ``max_len`` items of each history (left-padded; event types and time
    gaps unknown, as in a request that carries only item ids)."""
    lists = histories.list.tail(max_len).list.eval(vocabulary.encode(pl.element()))
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)  # [B]
    flat = lists.explode().drop_nulls().to_numpy().astype(np.int64)  # [sum(lengths)]
    width = max(int(lengths.max(initial=0)), 1)
    row = np.repeat(np.arange(lengths.size), lengths)  # [sum(lengths)] row of each history item
    place = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # its place in the history
    items = np.full((lengths.size, width), PAD_INDEX, dtype=np.int64)  # [B, L]
    items[row, width - lengths[row] + place] = flat
    items = torch.from_numpy(items)
    unknown = torch.where(items > PAD_INDEX, UNKNOWN_INDEX, PAD_INDEX)  # [B, L]
    return SequenceBatch(items=items, events=unknown, time_gaps=unknown.clone())


def scorer_action_scores(log: ImpressionLog, score: Callable[[SequenceBatch], Tensor], vocabulary: Vocabulary,
                         action_items: Sequence[str | None] | np.ndarray, *, nothing_score: float = -np.inf,
                         max_len: int = 50, batch_rows: int = 1024) -> np.ndarray:
    """``[n, A]`` scores of each round's actions by ``score`` over the log's ``history`` column.

    Args:
        score: ``score(SequenceBatch) -> [B, V]`` in ``vocabulary``'s indices (run under ``torch.no_grad``).
        action_items: the item id of each action, ``[A]`` (one action space) or ``[n, A]`` (per-round
            candidates); ``None`` marks "show nothing", scored ``nothing_score``.
        max_len: history items the scorer sees (the newest). batch_rows: rounds scored at once.
    """
    items = _action_items(action_items, len(log))
    nothing = np.equal(items, None)
    index = np.vectorize(vocabulary.index, otypes=[np.int64])(np.where(nothing, "", items))  # [n, A]
    histories = log.history_column()
    parts = []
    for start in range(0, len(log), batch_rows):
        batch = request_batch(histories.slice(start, batch_rows), vocabulary, max_len)
        with torch.no_grad():
            scores = score(batch).float().cpu().numpy()  # [B, V]
        parts.append(np.take_along_axis(scores, index[start:start + batch_rows], axis=1).astype(np.float64))
    gathered = np.concatenate(parts)  # [n, A]
    gathered[index == UNKNOWN_INDEX] = -np.inf
    gathered[nothing] = nothing_score
    return gathered


def recommendation_action_scores(log: ImpressionLog, recommend: Recommend,
                                 action_items: Sequence[str | None] | np.ndarray, *, k: int = 100,
                                 nothing_score: float = -np.inf, batch_rows: int = 1024) -> np.ndarray:
    """``[n, A]`` scores from a ``recommend(histories, k) -> [[(item_id, score), ...], ...]`` service
    (``load_bundle(path).recommend``): an action's score is its item's in the row's top ``k``, ``-inf``
    outside it; ``None`` items ("show nothing") score ``nothing_score``."""
    items = _action_items(action_items, len(log))
    histories = log.histories()
    scores = np.full(items.shape, -np.inf)
    for start in range(0, len(log), batch_rows):
        lists = recommend(histories[start:start + batch_rows], k)
        for offset, ranked in enumerate(lists):
            found = dict(ranked)
            row = items[start + offset]
            scores[start + offset] = [found.get(item, -np.inf) for item in row]
    scores[np.equal(items, None)] = nothing_score
    return scores
