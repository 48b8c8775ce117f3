"""Recommendation policies the simulator can ask: any xsell scorer fits through an adapter.

A :class:`Policy` maps sessions to ``[S, k]`` world item indices (``NO_ITEM`` for an empty slot). Scoring
policies produce ``[S, N]`` scores over the world's catalog and share one top-k step that never recommends
the anchor or an item of the history; they are evaluated in chunks, so 1e5 sessions never hold a
``[1e5, N]`` matrix.

- :class:`ScoreFunctionPolicy`: any ``score(SequenceBatch) -> [B, V]`` over a vocabulary: trained models
  (``model.score``, i.e. ``encode(batch) @ item_embeddings().T``) and the baselines of ``xsell.baselines``;
- :class:`TopKScorerPolicy`: an exported scorer (``bundle.scorer`` or a ``TopKScorer``);
- :class:`StaticScorePolicy` (one score per item, e.g. popularity), :class:`RandomPolicy`,
  :class:`AffinityOracle` (ranks by the ground truth: an upper bound), :class:`NoRecommendation` (control).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.schema import PAD_INDEX, UNKNOWN_INDEX
from xsell.data.vocabulary import Vocabulary
from xsell.simulation.sessions import NO_ITEM, Sessions
from xsell.simulation.world import ShopWorld

_CHUNK = 4096  # sessions scored at once


class Policy:
    """Chooses up to ``k`` offers per session."""

    def recommend(self, sessions: Sessions, k: int) -> np.ndarray:
        """``[S, k]`` int64 world item indices, best first; ``NO_ITEM`` marks an empty slot."""
        raise NotImplementedError


class NoRecommendation(Policy):
    """The control arm: shows nothing."""

    def recommend(self, sessions: Sessions, k: int) -> np.ndarray:
        return np.full((len(sessions), k), NO_ITEM, dtype=np.int64)


def in_chunks(sessions: Sessions, offers_of: Callable[[Sessions], np.ndarray], k: int) -> np.ndarray:
    """``offers_of`` over chunks of sessions, concatenated to ``[S, k]`` int64 (short rows padded with
    ``NO_ITEM``), so that no ``[S, N]`` score matrix is ever held at once."""
    chunks = [offers_of(sessions.take(slice(start, start + _CHUNK))) for start in range(0, len(sessions), _CHUNK)]
    offers = np.concatenate(chunks).astype(np.int64) if chunks else np.empty((0, k), dtype=np.int64)
    return np.pad(offers, ((0, 0), (0, k - offers.shape[1])), constant_values=NO_ITEM)


class ScoringPolicy(Policy):
    """A policy from ``[S, N]`` scores over the world's items; subclasses define :meth:`scores`."""

    def scores(self, sessions: Sessions) -> np.ndarray:
        """``[S, N]`` float32 scores (``-inf`` = never recommend)."""
        raise NotImplementedError

    def recommend(self, sessions: Sessions, k: int) -> np.ndarray:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")

        def top_k(part: Sessions) -> np.ndarray:
            scores = torch.from_numpy(np.ascontiguousarray(self.scores(part), dtype=np.float32))  # [C, N]
            seen = np.where(part.history >= 0, part.history, part.anchor[:, None])  # [C, L], padding -> anchor
            seen = torch.from_numpy(np.concatenate([seen, part.anchor[:, None]], axis=1))  # [C, L + 1]
            scores.scatter_(1, seen, float("-inf"))  # never the history or the anchor
            values, indices = torch.topk(scores, min(k, scores.shape[1]), dim=1)  # [C, k]
            return torch.where(torch.isfinite(values), indices, NO_ITEM).numpy()

        return in_chunks(sessions, top_k, k)


class StaticScorePolicy(ScoringPolicy):
    """The same ``[N]`` item scores for everyone (popularity: ``np.bincount`` of the log's item indices)."""

    def __init__(self, item_scores: np.ndarray) -> None:
        self.item_scores = np.asarray(item_scores, dtype=np.float32)

    def scores(self, sessions: Sessions) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(sessions), self.item_scores.size))


class RandomPolicy(ScoringPolicy):
    """Uniformly random offers (seeded; each call draws anew)."""

    def __init__(self, num_items: int, seed: int = 0) -> None:
        self.num_items = num_items
        self.rng = np.random.default_rng(seed)

    def scores(self, sessions: Sessions) -> np.ndarray:
        return self.rng.random((len(sessions), self.num_items), dtype=np.float32)


class AffinityOracle(ScoringPolicy):
    """Ranks by the ground-truth affinity to the anchor (cheaper items first among equals) and shows nothing
    without affinity: what a perfect cross-sell model would show. Only for upper bounds; it reads the
    simulator's truth."""

    def __init__(self, world: ShopWorld) -> None:
        self.world = world
        self.tie_break = (1e-3 * (1.0 - world.price / world.price.max())).astype(np.float32)  # [N]

    def scores(self, sessions: Sessions) -> np.ndarray:
        rows = self.world.category_affinity[self.world.category[sessions.anchor]].astype(np.float32)  # [S, C]
        fit = np.take(rows, self.world.category, axis=1)  # [S, N], C order (fancy indexing would give F order)
        return np.where(fit > 0, fit + self.tie_break[None, :], -np.inf).astype(np.float32)


def history_batch(sessions: Sessions, world_to_vocabulary: np.ndarray) -> SequenceBatch:
    """A ``SequenceBatch`` of the sessions' histories in a model's vocabulary indices (time gaps unknown)."""
    history = np.where(sessions.history >= 0, world_to_vocabulary[np.maximum(sessions.history, 0)], PAD_INDEX)
    items = torch.from_numpy(history.astype(np.int64))  # [S, L]
    events = torch.from_numpy(sessions.events.astype(np.int64))  # [S, L]
    time_gaps = torch.where(items > PAD_INDEX, UNKNOWN_INDEX, PAD_INDEX)  # [S, L]
    return SequenceBatch(items=items, events=events, time_gaps=time_gaps)


class ScoreFunctionPolicy(ScoringPolicy):
    """Any scorer over a vocabulary: ``score(SequenceBatch) -> [B, V]`` (``model.score``, a baseline's ``score``).

    Args:
        score: the scoring function (run under ``torch.no_grad``).
        vocabulary: the item vocabulary the scorer was trained with (``prepared.item_vocab``).
        world: the simulated shop; world items the vocabulary lacks are never recommended.
    """

    def __init__(self, score: Callable[[SequenceBatch], Tensor], vocabulary: Vocabulary, world: ShopWorld) -> None:
        self.score = score
        self.to_vocabulary = world.to_vocabulary(vocabulary)  # [N]
        self.known = self.to_vocabulary != UNKNOWN_INDEX  # [N]

    def scores(self, sessions: Sessions) -> np.ndarray:
        with torch.no_grad():
            vocabulary_scores = self.score(history_batch(sessions, self.to_vocabulary)).float().cpu().numpy()
        scores = np.take(vocabulary_scores, self.to_vocabulary, axis=1)  # [S, N], C order
        scores[:, ~self.known] = -np.inf
        return scores


class TopKScorerPolicy(Policy):
    """An exported scorer (``load_bundle(path).scorer``, a ``TopKScorer`` or its ``torch.export`` program):
    ``scorer(items [B, L], k) -> (indices [B, k], scores [B, k])`` in the vocabulary's indices."""

    def __init__(self, scorer: Callable[..., tuple[Tensor, Tensor]], vocabulary: Vocabulary, world: ShopWorld) -> None:
        self.scorer = scorer
        self.to_vocabulary = world.to_vocabulary(vocabulary)  # [N]
        self.to_world = world.from_vocabulary(vocabulary)  # [V]

    def recommend(self, sessions: Sessions, k: int) -> np.ndarray:
        def top_k(part: Sessions) -> np.ndarray:
            items = history_batch(part, self.to_vocabulary).items  # [C, L]
            with torch.no_grad():
                indices, values = self.scorer(items, k)  # [C, k] each
            offers = self.to_world[indices.numpy()]
            offers[~torch.isfinite(values).numpy() | (offers == part.anchor[:, None])] = NO_ITEM
            return offers

        return in_chunks(sessions, top_k, k)
