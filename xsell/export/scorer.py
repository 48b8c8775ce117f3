"""The serving face of a trained sequence model: padded histories in, top-k item indices and scores out.

``TopKScorer`` wraps an eager :class:`xsell.models.base.SequenceModel` and adds what serving needs around
``encode_sequence(...) @ item_embeddings().T``:

- input checks with clear messages (dtype, rank, matching shapes, ``k >= 1``);
- indices outside the catalog read as the unknown item (index 1), so a client can never feed the
  BERT4Rec mask token or crash the embedding lookup;
- a history without a single known item (all padding, or only unknown items) is scored by the popularity
  prior (training item frequencies, a buffer) instead of the model;
- padding, the unknown item and, by default, the items of the history are never recommended; an optional
  ``[B, N]`` mask excludes more (out of stock, already bought);
- optional cross-sell rules that read only item tables (:class:`xsell.crosssell.pipeline.ScoreRules`:
  complement mode, price rules, allow/deny lists, stock) rewrite the scores before the top-k;
- the history is brought to exactly ``max_len`` columns (cut or left-padded) before the model reads it,
  so the traced model has one static width and only the batch size varies inside it. The models are
  invariant to left padding (tested in ``tests/models``), so this equals the model on the raw history.

It knows nothing about files; :mod:`xsell.export.programs` compiles it, :mod:`xsell.export.bundle` saves it.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from xsell.crosssell.pipeline import ScoreRules
from xsell.data.schema import FIRST_INDEX, PAD_INDEX, UNKNOWN_INDEX


def popularity_prior(item_counts: Tensor) -> Tensor:
    """``[N]`` training counts -> ``[N]`` float32 frequencies, 0 at padding and the unknown item."""
    counts = item_counts.detach().to(torch.float32).clone()
    counts[:FIRST_INDEX] = 0.0
    return counts / counts.sum().clamp(min=1.0)


class TopKScorer(nn.Module):
    """Top-k next items for a batch of left-padded item-index histories.

    Args:
        model: a trained :class:`~xsell.models.base.SequenceModel` in eval mode (it is used, not copied).
        item_counts: ``[N]`` training events per item index; their frequencies are the popularity prior.
        num_event_types / num_time_gap_buckets: the model's event-type / time-gap table sizes, 0 when it
            does not read them (then they are ignored; otherwise the caller must pass them, and values
            outside the table read as unknown, 1).
        exclude_history: never recommend an item that is in the history (default).
        rules: item-table cross-sell rules applied to the scores before the top-k (None: none); they read
            the history as given (unknown items as 1) and the event types passed or zeros.

    ``forward(items, k, exclude=None, events=None, time_gaps=None, context=None, user=None)``:
        items: ``[B, L]`` int64 item indices, left-padded with 0 (1 = unknown item); any ``L >= 1``.
        k: how many items to return per row (at most ``N``).
        exclude: ``[B, N]`` bool, True where an item must not be recommended, or None.
        events / time_gaps: ``[B, L]`` int64 event types / time-gap buckets aligned with ``items``.
        context / user: ``[B, C]`` / ``[B, K]`` int64 ids of the request's context (device, time of day,
            session length so far) and of the user's features, when the model reads them (the model's
            ``RequestFeatures`` says; ignored otherwise); values outside a column's table read as unknown.
        Returns ``(indices, scores)``, both ``[B, min(k, N)]``, best first: int64 item indices and float32
        scores (model scores, or prior frequencies for rows without a known item). A slot with no eligible
        item left (``k`` beyond what may be recommended) holds index 0 (padding) and score ``-inf``, never
        a history, padding or unknown item with a score.

    Example::

        scorer = TopKScorer(model.eval(), prepared.item_counts())
        indices, scores = scorer(torch.tensor([[0, 0, 5, 9, 3]]), 10)  # [1, 10] each
    """

    __constants__ = ["uses_request"]  # TorchScript compiles only the branch this constant takes

    def __init__(
        self,
        model: nn.Module,
        item_counts: Tensor,
        *,
        num_event_types: int = 0,
        num_time_gap_buckets: int = 0,
        exclude_history: bool = True,
        rules: ScoreRules | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        request = getattr(model, "request", None)  # the model's RequestFeatures: table sizes per id column
        context_sizes = [] if request is None else _column_sizes(request.context)
        user_sizes = [] if request is None else _column_sizes(request.user)
        self.uses_context = len(context_sizes) > 0
        self.uses_user = len(user_sizes) > 0
        self.uses_request = self.uses_context or self.uses_user
        self.register_buffer("context_sizes", torch.tensor(context_sizes, dtype=torch.long))  # [C]
        self.register_buffer("user_sizes", torch.tensor(user_sizes, dtype=torch.long))  # [K]
        self.max_len: int = int(model.max_len)
        self.num_event_types = num_event_types
        self.num_time_gap_buckets = num_time_gap_buckets
        self.uses_events = num_event_types > 0
        self.uses_time_gaps = num_time_gap_buckets > 0
        self.exclude_history = exclude_history
        self.rules = ScoreRules() if rules is None else rules
        self.unknown_index: int = UNKNOWN_INDEX  # attributes: TorchScript cannot read module globals
        self.pad_index: int = PAD_INDEX
        self.first_index: int = FIRST_INDEX
        with torch.no_grad():
            catalog = model.item_embeddings().detach().clone()  # [N, D]
        self.num_items: int = int(catalog.shape[0])
        if item_counts.shape != (self.num_items,):
            raise ValueError(f"item_counts has shape {tuple(item_counts.shape)}, expected ({self.num_items},)")
        never = torch.zeros(self.num_items, dtype=torch.bool)
        never[[PAD_INDEX, UNKNOWN_INDEX]] = True  # reserved rows; extra tokens (a mask) lie beyond N
        self.register_buffer("catalog", catalog)
        self.register_buffer("prior", popularity_prior(item_counts))  # [N]
        self.register_buffer("never", never)  # [N]

    def forward(
        self,
        items: Tensor,
        k: int,
        exclude: Optional[Tensor] = None,  # noqa: UP045 - TorchScript reads Optional[...]
        events: Optional[Tensor] = None,  # noqa: UP045
        time_gaps: Optional[Tensor] = None,  # noqa: UP045
        context: Optional[Tensor] = None,  # noqa: UP045
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> tuple[Tensor, Tensor]:
        self._check_history("items", items, items)
        if k < 1:
            raise ValueError("k must be at least 1, got " + str(k))
        batch = items.shape[0]
        items = self._known(items, self.num_items)  # [B, L]
        events = self._context("events", events, items, self.num_event_types)
        time_gaps = self._context("time_gaps", time_gaps, items, self.num_time_gap_buckets)

        context = self._request("context", context, batch, self.uses_context, self.context_sizes)  # [B + 1, C]
        user = self._request("user", user, batch, self.uses_user, self.user_sizes)  # [B + 1, K]
        if self.uses_request:  # a constant: models without a request side keep the 3-argument call
            query = self.model.encode_sequence(self._fit(items), self._fit(events), self._fit(time_gaps),
                                               context, user)[:-1]  # [B, D]
        else:
            query = self.model.encode_sequence(self._fit(items), self._fit(events), self._fit(time_gaps))[:-1]
        scores = query @ self.catalog.T  # [B, N]
        known = (items >= self.first_index).any(dim=1, keepdim=True)  # [B, 1]
        scores = torch.where(known, scores, self.prior.unsqueeze(0).expand(batch, -1))
        scores = self.rules(scores, items, events)  # [B, N]; cross-sell rules (-inf = never)

        hidden = self.never.unsqueeze(0).expand(batch, -1)  # [B, N]
        if self.exclude_history:
            hidden = hidden | torch.zeros_like(hidden).scatter(1, items, torch.ones_like(items, dtype=torch.bool))
        if exclude is not None:
            if exclude.dtype != torch.bool or exclude.dim() != 2:
                raise ValueError("exclude must be a [B, N] bool tensor, got dtype " + str(exclude.dtype)
                                 + " with " + str(exclude.dim()) + " dimensions")
            torch.ops.aten._assert_tensor_metadata(exclude, dtype=torch.bool)
            if exclude.shape[0] != batch or exclude.shape[1] != self.num_items:
                raise ValueError("exclude must have shape [" + str(batch) + ", " + str(self.num_items)
                                 + "], got " + str(list(exclude.shape)))
            hidden = hidden | exclude
        scores = scores.masked_fill(hidden, float("-inf"))
        values, indices = torch.topk(scores, min(k, self.num_items), dim=1)  # [B, k] each
        indices = indices.masked_fill(values == float("-inf"), self.pad_index)  # empty slots: no item
        return indices, values

    def _fit(self, columns: Tensor) -> Tensor:
        """``[B, L]`` -> ``[B + 1, max_len]``: the last ``max_len`` columns, left-padded with 0 when shorter,
        plus one row of padding (dropped after encoding) so the encoder's batch is never 1: torch.export's
        GRU decomposition would otherwise specialise the program to batch sizes other than 1."""
        padding = columns.new_zeros(columns.shape[0] + 1, self.max_len)  # [B + 1, max_len]
        return torch.cat([padding, torch.cat([columns, columns.new_zeros(1, columns.shape[1])])], dim=1)[:, -self.max_len:]

    def _request(self, name: str, values: Optional[Tensor], batch: int, used: bool,  # noqa: UP045
                 sizes: Tensor) -> Optional[Tensor]:  # noqa: UP045
        """The request's context or user feature ids ``[B, C]`` when the model reads them (None otherwise):
        checked, out-of-table values read as unknown (1), plus the padding row that ``_fit`` adds."""
        if not used:
            return None
        width = sizes.shape[0]
        if values is None:
            raise ValueError("this model reads " + name + ": pass " + name + " [B, " + str(width) + "] int64")
        if values.dtype != torch.int64:
            raise ValueError(name + " must be int64 (torch.long), got " + str(values.dtype))
        torch.ops.aten._assert_tensor_metadata(values, dtype=torch.int64)
        if values.dim() != 2 or values.shape[0] != batch or values.shape[1] != width:
            raise ValueError(name + " must have shape [" + str(batch) + ", " + str(width) + "], got "
                             + str(list(values.shape)))
        values = torch.where((values >= 0) & (values < sizes.unsqueeze(0)), values, self.unknown_index)
        return torch.cat([values, values.new_zeros(1, width)])

    def _known(self, values: Tensor, size: int) -> Tensor:
        """Indices outside ``[0, size)`` become the unknown index."""
        return torch.where((values >= 0) & (values < size), values, self.unknown_index)

    def _context(self, name: str, values: Optional[Tensor], items: Tensor, size: int) -> Tensor:  # noqa: UP045
        """Event types or time gaps: checked when the model reads them (``size > 0``), zeros otherwise."""
        if size == 0:
            return torch.zeros_like(items)
        if values is None:
            raise ValueError("this model reads " + name + ": pass " + name + " [B, L] int64 aligned with items")
        self._check_history(name, values, items)
        return self._known(values, size)

    def _check_history(self, name: str, values: Tensor, items: Tensor) -> None:
        """Eager and TorchScript raise these messages; in a torch.export program dtype and rank are
        static, so the dtype is asserted at run time by ``_assert_tensor_metadata`` (the op torch.export
        itself uses) and the rank by the program's input checks."""
        if values.dtype != torch.int64:
            raise ValueError(name + " must be int64 (torch.long), got " + str(values.dtype))
        torch.ops.aten._assert_tensor_metadata(values, dtype=torch.int64)
        if values.dim() != 2:
            raise ValueError(name + " must be a [B, L] batch of left-padded histories, got "
                             + str(values.dim()) + " dimensions")
        if values.shape[0] != items.shape[0] or values.shape[1] != items.shape[1]:
            raise ValueError(name + " must have the shape of items " + str(list(items.shape)) + ", got "
                             + str(list(values.shape)))


def _column_sizes(block: nn.Module) -> list[int]:
    """Table size of each id column of a ``FeatureEmbedding`` (a feature with several slots repeats)."""
    sizes, start = [], 0
    for table, end in zip(block.features, block.slot_ends, strict=True):
        sizes += [int(table.num_embeddings)] * (end - start)
        start = end
    return sizes
