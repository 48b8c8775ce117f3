"""A bag-of-items next-item model: the running mean of the history's item vectors, then an MLP.

The simplest sequence encoder (the watch-history average of YouTube's candidate generator, Covington et al.,
RecSys 2016), and a query tower for :class:`xsell.models.two_tower.TwoTower`:

1. Each history item becomes its item vector (ids + features, plus optional event-type / time-gap context;
   no positions: a mean ignores order).
2. The output at position t is the mean over the non-padding positions <= t (causal, so every position can
   be trained to predict the next item), passed through a two-layer MLP.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from xsell.data.features import FeatureSpec
from xsell.models.base import SequenceInput, SequenceModel
from xsell.nn.embeddings import RequestFeatures


class MeanPool(SequenceModel):
    """Causal mean of item vectors followed by an MLP.

    Args:
        num_items: item vocabulary size. dim: hidden size ``D``. dropout: embedding dropout.
        max_len: longest history read. Other arguments as :class:`xsell.models.transformer_base.TransformerSequenceModel`.

    Example::

        model = MeanPool(num_items=1000, dim=64, max_len=50)
        user = model.encode_sequence(items, events, gaps)  # [B, 64]
    """

    def __init__(
        self,
        num_items: int,
        dim: int = 64,
        dropout: float = 0.1,
        max_len: int = 50,
        num_event_types: int = 0,
        num_time_gap_buckets: int = 0,
        feature_ids: Tensor | None = None,
        feature_specs: Sequence[FeatureSpec] = (),
        context_specs: Sequence[FeatureSpec] = (),
        user_specs: Sequence[FeatureSpec] = (),
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.input = SequenceInput(
            num_items, dim, max_len, dropout, positions=False, num_event_types=num_event_types,
            num_time_gap_buckets=num_time_gap_buckets, feature_ids=feature_ids, feature_specs=feature_specs,
            scale=False,
        )
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.request = RequestFeatures(dim, context_specs, user_specs)

    def history_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        present = (items != 0).unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        total = (x * present).cumsum(1)  # [B, L, D]
        mean = total / present.cumsum(1).clamp(min=1.0)  # [B, L, D]
        return self.mlp(mean)  # [B, L, D]
