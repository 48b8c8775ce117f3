"""Two-tower retrieval (Yi et al., RecSys 2019; Covington et al., RecSys 2016): a query tower and an item
tower meet in one inner product, so the whole catalog can be indexed once and searched by nearest neighbour
(``xsell.retrieval``).

1. **Query tower.** Any causal sequence encoder of ``xsell.models`` (SASRec, GRU4Rec, MeanPool) reads the
   history with its own input embeddings (item ids + features, plus event types and time gaps when the
   data has them), then the request's side is fused in (``RequestFeatures``: the context of the event being
   predicted, such as device, time of day and session length so far, and user features such as the segment,
   when ``context_specs`` / ``user_specs`` name them); a linear layer projects the result to ``D``.
2. **Item tower.** An item is its id embedding plus its content features (category, brand, price bucket,
   title tokens: whatever ``feature_specs`` names), passed through a small MLP. The id table is separate
   from the query tower's. With features, the tables start at zero and the id is dropped for a random share
   of items in training (``id_dropout``), so the MLP learns to place an item from its content alone: an item
   with features but no interactions (an all-zero id row) still gets a useful vector.
3. **Score.** Both towers are L2-normalised (``normalize``), so scores are cosines; the temperature lives in
   the loss (``xsell.nn.losses.InBatchSoftmax``) and does not change rankings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xsell.data.features import FeatureSpec
from xsell.models.base import SequenceModel
from xsell.models.inputs import InputSpec
from xsell.models.mean_pool import MeanPool
from xsell.nn.embeddings import ItemEmbedding, RequestFeatures


class ItemTower(nn.Module):
    """Id embedding + content feature embeddings -> MLP -> (unit) item vector.

    Args:
        num_items: item vocabulary size (0 padding, 1 unknown). dim: output size ``D``.
        feature_ids / feature_specs: the items' content features (see ``ItemEmbedding``); none: id-only.
        hidden: MLP hidden size (default ``2 * dim``). dropout: MLP dropout.
        id_dropout: share of items whose id vector is left out in a training pass (only with features).
        normalize: L2-normalise the output.
    """

    def __init__(
        self,
        num_items: int,
        dim: int,
        feature_ids: Tensor | None = None,
        feature_specs: Sequence[FeatureSpec] = (),
        hidden: int | None = None,
        dropout: float = 0.0,
        id_dropout: float = 0.1,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.embedding = ItemEmbedding(num_items, dim, feature_ids, feature_specs)
        self.has_features = len(feature_specs) > 0
        if self.has_features:
            # Every row starts at zero: a row that training never reaches (the id of a never-trained item, a
            # title token only such items carry) adds nothing, instead of random noise.
            for table in (self.embedding.ids, *self.embedding.features):
                nn.init.zeros_(table.weight)
        hidden = hidden or 2 * dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.id_dropout = id_dropout if self.has_features else 0.0
        self.normalize = normalize

    def forward(self, items: Tensor) -> Tensor:
        """``[...]`` item indices -> ``[..., D]`` item vectors (padding gives a zero vector)."""
        ids = self.embedding.ids(items)  # [..., D]
        if self.training and self.id_dropout > 0:
            keep = torch.rand(items.shape, device=items.device) >= self.id_dropout
            ids = ids * keep.unsqueeze(-1).to(ids.dtype)
        x = ids
        if self.has_features:
            x = x + self.embedding.content(self.embedding.feature_ids[items])
        return self._output(x, items != 0)

    @torch.jit.export
    def from_features(self, feature_ids: Tensor) -> Tensor:
        """``[n, F]`` feature ids of items the vocabulary does not know -> ``[n, D]`` (content only)."""
        x = self.embedding.content(feature_ids)  # [n, D]
        return self._output(x, (feature_ids > 0).any(-1))

    def _output(self, x: Tensor, real: Tensor) -> Tensor:
        out = self.mlp(x)
        if self.normalize:
            out = F.normalize(out, dim=-1)
        return out * real.unsqueeze(-1).to(out.dtype)  # padding stays a zero vector

    def catalog(self) -> Tensor:
        """``[num_items, D]`` vectors of every vocabulary index."""
        return self.forward(torch.arange(self.embedding.num_items, device=self.embedding.ids.weight.device))


class TwoTower(SequenceModel):
    """Query tower (a sequence encoder + projection) and item tower (ids + content -> MLP).

    Args:
        inputs: the data's sizes (:class:`xsell.models.inputs.InputSpec`; or the item count with the sizes
            as keywords). Item content features feed the item tower and, with ``query_features``, the query
            tower's input embeddings as well; request context and user features are fused into the query.
        dim: shared output size ``D``.
        query: builds the query encoder; called as ``query(inputs=..., dim=...)`` (a Hydra partial of
            ``SASRec`` / ``GRU4Rec`` / ``MeanPool``; default ``MeanPool``).
        item_hidden / item_dropout / id_dropout / normalize: see :class:`ItemTower`.

    Example::

        model = TwoTower(num_items=1000, dim=64, max_len=50, feature_ids=ids, feature_specs=specs)
        user = model.encode_sequence(items, events, gaps)  # [B, 64], unit norm
        scores = user @ model.item_embeddings().T           # [B, 1000], cosines
    """

    def __init__(
        self,
        inputs: InputSpec | int | None = None,
        dim: int = 64,
        query: Callable[..., SequenceModel] | None = None,
        query_features: bool = True,
        item_hidden: int | None = None,
        item_dropout: float = 0.0,
        id_dropout: float = 0.1,
        normalize: bool = True,
        **sizes: Any,
    ) -> None:
        super().__init__()
        inputs = InputSpec.of(inputs, **sizes)
        self.max_len = inputs.max_len
        self.normalize = normalize
        query_inputs = inputs.without_request()  # the request side is fused once, after the projection
        self.query = (query or MeanPool)(
            inputs=query_inputs if query_features else query_inputs.without_item_features(), dim=dim)
        if getattr(self.query, "objective", "causal") != "causal":
            raise ValueError(f"the query tower must be a causal encoder, got {type(self.query).__name__} "
                             f"(objective {self.query.objective!r})")
        self.project = nn.Linear(dim, dim)
        self.items = ItemTower(inputs.num_items, dim, inputs.feature_ids, inputs.feature_specs, item_hidden,
                               item_dropout, id_dropout, normalize)
        self.request = RequestFeatures(dim, inputs.context_specs, inputs.user_specs)

    def _query_output(self, x: Tensor) -> Tensor:
        x = self.project(x)
        return F.normalize(x, dim=-1) if self.normalize else x

    def sequence_output(
        self,
        items: Tensor,
        events: Tensor,
        time_gaps: Tensor,
        context: Optional[Tensor] = None,  # noqa: UP045 - TorchScript reads Optional[...]
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> Tensor:
        """``[B, L]`` -> ``[B, L, D]`` query vectors after every position (training)."""
        hidden = self.query.sequence_output(items, events, time_gaps)  # [B, L, D]
        return self._query_output(self.request(hidden, context, user))

    @torch.jit.export
    def encode_sequence(
        self,
        items: Tensor,
        events: Tensor,
        time_gaps: Tensor,
        context: Optional[Tensor] = None,  # noqa: UP045
        user: Optional[Tensor] = None,  # noqa: UP045
    ) -> Tensor:
        """``[B, L]`` history (+ the request's ``[B, C]`` context and ``[B, K]`` user features when the
        model reads them) -> ``[B, D]`` query vector (the encoder's own fast path)."""
        hidden = self.query.encode_sequence(items, events, time_gaps)  # [B, D]
        return self._query_output(self.request(hidden, context, user))

    @torch.jit.export
    def item_embeddings(self) -> Tensor:
        """``[N, D]`` item-tower vectors of the whole vocabulary (what the FAISS index holds)."""
        return self.items.catalog()

    @torch.jit.export
    def embed_new_items(self, feature_ids: Tensor) -> Tensor:
        """``[n, F]`` feature ids -> ``[n, D]`` vectors of items outside the vocabulary (cold start)."""
        return self.items.from_features(feature_ids)
