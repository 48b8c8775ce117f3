"""A bag-of-items next-item model: the running mean of the history's item vectors, then an MLP.

The simplest sequence encoder (the watch-history average of YouTube's candidate generator, Covington et al.,
RecSys 2016), and a query tower for :class:`xsell.models.two_tower.TwoTower`:

1. Each history item becomes its item vector (ids + features, plus optional event-type / time-gap context;
   no positions: a mean ignores order).
2. The output at position t is the mean over the non-padding positions <= t (causal, so every position can
   be trained to predict the next item), passed through a two-layer MLP.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from xsell.models.base import SequenceInput, SequenceModel
from xsell.models.inputs import InputSpec
from xsell.nn.embeddings import RequestFeatures


class MeanPool(SequenceModel):
    """Causal mean of item vectors followed by an MLP.

    Args:
        inputs: the data's sizes (:class:`xsell.models.inputs.InputSpec`; or the item count with the sizes
            as keywords). dim: hidden size ``D``. dropout: embedding dropout.

    Example::

        model = MeanPool(num_items=1000, dim=64, max_len=50)
        user = model.encode_sequence(items, events, gaps)  # [B, 64]
    """

    def __init__(
        self,
        inputs: InputSpec | int | None = None,
        dim: int = 64,
        dropout: float = 0.1,
        **sizes: Any,
    ) -> None:
        super().__init__()
        inputs = InputSpec.of(inputs, **sizes)
        self.max_len = inputs.max_len
        self.input = SequenceInput(inputs, dim, dropout, positions=False, scale=False)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.request = RequestFeatures(dim, inputs.context_specs, inputs.user_specs)

    def history_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        present = (items != 0).unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        total = (x * present).cumsum(1)  # [B, L, D]
        mean = total / present.cumsum(1).clamp(min=1.0)  # [B, L, D]
        return self.mlp(mean)  # [B, L, D]
