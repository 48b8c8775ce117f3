"""Stage 1 of the hybrid: fitted baselines as scriptable score generators, and the union of their top items.

A generator turns a ``[B, L]`` left-padded history into ``[B, N]`` scores. ItemKNN and association rules
become :class:`NeighbourTable`s (each item's neighbours and weights as dense ``[N, K]`` tables, so the whole
hybrid compiles to one TorchScript module); popularity becomes :class:`PopularityScores`; a trained
sequence-model run (:class:`TrainedRun`) becomes :class:`SequenceModelScores`. Every generator is fitted on
the training part only (see :mod:`xsell.baselines.inputs`; a run was trained on it).

:func:`retrieve` takes each generator's ``per_generator`` best items (history items hidden) and returns their
union as the candidates of a request, with each generator's score and rank of every candidate.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from xsell.baselines import AssociationRules, ItemKNN, MostPopular
from xsell.baselines.inputs import top_k_per_row
from xsell.data.schema import FIRST_INDEX
from xsell.errors import CheckpointError

# Added to every generator's scores before its top-k, times the item's share of training events, so that
# items with equal evidence (most often none) are retrieved by popularity, not by index.
TIE_BREAK = 1e-6


class NeighbourTable(nn.Module):
    """Item-to-item scores summed (or maxed) over the newest ``history`` items of a history.

    ``score(j) = agg_r decay**r * weights[item_r, s]`` over the slots ``s`` with ``indices[item_r, s] == j``
    (``r = 0`` the newest item). With ItemKNN's similarity, ``"sum"`` and its ``history`` / ``decay`` this is
    :meth:`ItemKNN.score` without the popularity tie-breaker; with association rules' strengths,
    ``decay=1`` and ``once=True`` (a repeated antecedent fires once) it is :meth:`AssociationRules.score` over
    each antecedent's strongest rules.

    Args:
        indices: ``[N, K]`` neighbour item indices of each item (0 pads). weights: ``[N, K]`` their weights
            (0 at padding, all >= 0). history: newest items read (0 = all). decay: recency weight per step.
        aggregate: ``"sum"`` or ``"max"`` over the history items. once: an item repeated in the history
            counts once (its newest occurrence), not once per occurrence.
    """

    def __init__(self, indices: Tensor, weights: Tensor, history: int = 0, decay: float = 1.0,
                 aggregate: str = "sum", once: bool = False) -> None:
        super().__init__()
        if aggregate not in ("sum", "max"):
            raise ValueError(f"aggregate must be 'sum' or 'max', got {aggregate!r}")
        if indices.shape != weights.shape or indices.dim() != 2:
            raise ValueError(f"indices {tuple(indices.shape)} and weights {tuple(weights.shape)} must be [N, K]")
        self.register_buffer("indices", indices.to(torch.int32))  # [N, K]
        self.register_buffer("weights", weights.to(torch.float32))  # [N, K]
        self.history, self.decay, self.use_max, self.once = int(history), float(decay), aggregate == "max", once
        self.first_index: int = FIRST_INDEX

    @classmethod
    def of(cls, matrix: sp.csr_matrix, k: int | None = None, **options) -> NeighbourTable:
        """From a sparse ``[N, N]`` matrix whose row ``i`` holds item ``i``'s neighbours (the ``k`` largest
        per row kept when given)."""
        matrix = top_k_per_row(matrix, k) if k is not None else matrix.tocsr()
        counts = np.diff(matrix.indptr)
        width = max(int(counts.max(initial=0)), 1)
        rows = np.repeat(np.arange(matrix.shape[0]), counts)
        slots = np.arange(len(rows)) - matrix.indptr[rows]
        indices = np.zeros((matrix.shape[0], width), dtype=np.int32)
        weights = np.zeros((matrix.shape[0], width), dtype=np.float32)
        indices[rows, slots], weights[rows, slots] = matrix.indices, matrix.data
        return cls(torch.from_numpy(indices), torch.from_numpy(weights), **options)

    def forward(self, items: Tensor) -> Tensor:
        """``[B, L]`` item indices (within the catalog) -> ``[B, N]`` scores."""
        if self.history > 0:
            items = items[:, -self.history:]
        batch, width = items.shape
        steps = torch.arange(width - 1, -1, -1, device=items.device, dtype=torch.float32)  # newest: 0
        recency = torch.pow(torch.full_like(steps, self.decay), steps)  # [L]
        counted = items >= self.first_index  # [B, L]
        if self.once:  # drop an occurrence when the same item occurs again later (newer)
            later = torch.ones(width, width, dtype=torch.bool, device=items.device).triu(1)  # [L, L] q > p
            counted = counted & ~((items.unsqueeze(2) == items.unsqueeze(1)) & later).any(2)
        recency = recency.unsqueeze(0) * counted.to(torch.float32)  # [B, L]
        neighbours = self.indices[items].to(torch.int64).reshape(batch, -1)  # [B, L * K]
        values = (self.weights[items] * recency.unsqueeze(2)).reshape(batch, -1)  # [B, L * K]
        scores = torch.zeros(batch, self.indices.shape[0], device=items.device)
        if self.use_max:
            return scores.scatter_reduce(1, neighbours, values, "amax")
        return scores.scatter_add(1, neighbours, values)


class PopularityScores(nn.Module):
    """The same ``[N]`` scores (log of 1 + training events) for every history."""

    def __init__(self, item_counts: Tensor) -> None:
        super().__init__()
        self.register_buffer("scores", torch.log1p(item_counts.to(torch.float32)))  # [N]

    def forward(self, items: Tensor) -> Tensor:
        return self.scores.unsqueeze(0).expand(items.shape[0], -1)


class SequenceModelScores(nn.Module):
    """A trained sequence model (SASRec, GRU4Rec, ...) as a generator: ``encode_sequence(items) @ catalog.T``.

    Only models that read item histories alone (no event types, time gaps, context or user features): the
    generator sees item indices only."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()
        self.max_len: int = int(model.max_len)
        with torch.no_grad():
            self.register_buffer("catalog", model.item_embeddings().detach().clone())  # [N, D]

    def forward(self, items: Tensor) -> Tensor:
        items = items[:, -self.max_len:]
        zeros = torch.zeros_like(items)
        return self.model.encode_sequence(items, zeros, zeros) @ self.catalog.T  # [B, N]


class TrainedRun:
    """A finished ``python -m xsell.train`` run as a stage-1 generator (``xsell.load_run`` of ``path``).

    ``fit(log)`` loads the run's best model and checks that it indexes the log's items exactly as the log
    does (the same data, split and vocabulary); it learns nothing. The run's checkpoint was chosen on the
    validation targets, so a hybrid that trains its ranker on them sees a model tuned on its own training
    requests (test targets stay unread either way)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.model: nn.Module | None = None

    def fit(self, log: object) -> TrainedRun:
        from xsell.training.checkpoint import load_run  # the training stack loads only when a run is used

        loaded = load_run(self.path)
        inputs = loaded.config.get("inputs") or {}
        used = [key for key in ("event_types", "time_gaps", "context_features", "user_features") if inputs.get(key)]
        if used:
            raise CheckpointError(f"{self.path}: the run's model reads {used}; a hybrid generator reads item "
                                  "histories only")
        if loaded.vocabulary.ids != log.item_vocab.ids:
            raise CheckpointError(f"{self.path}: the run indexes {loaded.vocabulary.num_known} items, the log "
                                  f"{log.item_vocab.num_known} (or in another order): use the run's data config")
        self.model = loaded.model
        return self


def generator_of(baseline: object, item_counts: np.ndarray, max_neighbours: int | None = None) -> nn.Module:
    """The scriptable generator of a fitted baseline (ItemKNN, AssociationRules or MostPopular) or trained
    run (:class:`TrainedRun`).

    ``max_neighbours`` caps the table width of rule sets (ItemKNN already keeps its ``k``)."""
    if isinstance(baseline, ItemKNN):
        return NeighbourTable.of(baseline.similarity, None, history=baseline.history or 0,
                                 decay=baseline.decay, aggregate="sum")
    if isinstance(baseline, AssociationRules):
        if baseline.aggregate == "sum" and max_neighbours is not None:
            raise ValueError("summed rules are exact only with every rule: max_neighbours=None")
        return NeighbourTable.of(baseline.strength, max_neighbours, history=baseline.history or 0,
                                 aggregate=baseline.aggregate, once=True)
    if isinstance(baseline, MostPopular):
        return PopularityScores(torch.from_numpy(item_counts))
    if isinstance(baseline, TrainedRun):
        return SequenceModelScores(baseline.model)
    raise TypeError(f"no candidate generator for {type(baseline).__name__}: use ItemKNN, AssociationRules, "
                    "MostPopular or TrainedRun")


def retrieve(scores: list[Tensor], hidden: Tensor, tie_break: Tensor, per_generator: int
             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The union of each generator's ``per_generator`` best items that are not ``hidden``.

    Args:
        scores: ``G`` tensors ``[B, N]``, one per generator. hidden: ``[B, N]`` bool, never a candidate
            (padding, unknown, history items). tie_break: ``[N]`` added to every generator's scores before its
            top-k (``TIE_BREAK`` times the training event shares: ties go to popular items, not low indices).
    Returns:
        ``(items, valid, values, ranks)``: ``items`` ``[B, C]`` candidate indices (``C = G * per_generator``,
        a repeated item counted once: its other slots are not ``valid`` ``[B, C]``), ``values`` ``[G, B, C]``
        each generator's score of each candidate, ``ranks`` ``[G, B, C]`` its 1-based rank in that
        generator's list, ``per_generator + 1`` when it is not in the list.
    """
    batch, num_items = hidden.shape
    k = min(per_generator, num_items)
    top_items, top_valid = [], []
    for generator_scores in scores:
        ranked = (generator_scores + tie_break.unsqueeze(0)).masked_fill(hidden, float("-inf"))
        top_values, top_indices = torch.topk(ranked, k, dim=1)  # [B, k] each
        top_items.append(top_indices)
        top_valid.append(top_values > float("-inf"))
    items = torch.cat(top_items, dim=1)  # [B, G * k]
    valid = torch.cat(top_valid, dim=1)  # [B, G * k]
    ordered, order = items.sort(dim=1, stable=True)
    repeated = torch.zeros_like(valid)
    repeated[:, 1:] = ordered[:, 1:] == ordered[:, :-1]  # later copies of a repeated item
    valid = valid & ~torch.zeros_like(valid).scatter(1, order, repeated)
    values, ranks = [], []
    positions = torch.arange(1, k + 1, device=items.device).unsqueeze(0).expand(batch, -1)  # [B, k]
    for g in range(len(scores)):
        values.append(scores[g].gather(1, items))
        table = torch.full((batch, num_items), k + 1, dtype=torch.long, device=items.device)
        ranks.append(table.scatter(1, top_items[g], positions).gather(1, items))
    return items, valid, torch.stack(values), torch.stack(ranks)
