"""SASRec (Kang & McAuley, ICDM 2018): next-item prediction with causal self-attention.

1. Each history item becomes its (shared) item vector, scaled by sqrt(D), plus a learned position
   (counted back from the most recent event) and, optionally, event-type and time-gap embeddings.
2. A stack of pre-LN transformer blocks attends causally: position t sees positions <= t only.
3. The output at position t is matched against every item vector (the input table, tied) to predict the
   item at t + 1; at inference the last position's output is the user's representation.
4. Optionally the request's side is fused into that output (``RequestFeatures``, shared by every model): the
   context of the event at t + 1 (device, time of day, session length so far; never its item) and the
   user's features (segment).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from xsell.data.features import FeatureSpec
from xsell.models.base import SequenceInput, SequenceModel
from xsell.nn.embeddings import RequestFeatures
from xsell.nn.transformer import TransformerEncoder, normal_init, transformer_layout


class SASRec(SequenceModel):
    """Causal transformer next-item model.

    Args:
        num_items: item vocabulary size (padding and unknown included).
        dim: hidden size ``D``. layers / heads / dropout: transformer shape.
        max_len: longest history the model reads (learned positions).
        num_event_types / num_time_gap_buckets: > 0 to add event-type / time-gap embeddings.
        feature_ids / feature_specs: item features fused into the item vectors (see ``ItemEmbedding``).
        context_specs / user_specs: request context (the predicted event's device, time of day, ...) and user
            features fused into the output (see ``RequestFeatures``); empty: none.
        layout: ``pre_ln`` (default: sqrt(D)-scaled item vectors, pre-LN blocks, final LayerNorm) or ``post_ln``
            (RecBole's: unscaled inputs, input LayerNorm, post-LN blocks).
        init_std: initialise the input embeddings and the encoder ``N(0, init_std)`` (BERT/RecBole: 0.02);
            None keeps the defaults (item vectors ``N(0, 1/D)``, PyTorch's Linear initialisation).
        ffn_mult / activation: the blocks' feed-forward width (``ffn_mult * D``) and non-linearity: 4x GELU
            (default, BERT's and RecBole's) or the SASRec paper's 1x ReLU (``ffn_mult=1 activation=relu``).

    Example::

        model = SASRec(num_items=1000, dim=64, layers=2, heads=2, max_len=50)
        user = model.encode_sequence(items, events, gaps)  # [B, 64]
        scores = user @ model.item_embeddings().T           # [B, 1000]
    """

    def __init__(
        self,
        num_items: int,
        dim: int = 64,
        layers: int = 2,
        heads: int = 2,
        dropout: float = 0.2,
        max_len: int = 50,
        num_event_types: int = 0,
        num_time_gap_buckets: int = 0,
        feature_ids: Tensor | None = None,
        feature_specs: Sequence[FeatureSpec] = (),
        context_specs: Sequence[FeatureSpec] = (),
        user_specs: Sequence[FeatureSpec] = (),
        layout: str = "pre_ln",
        init_std: float | None = None,
        ffn_mult: int = 4,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.input = SequenceInput(
            num_items, dim, max_len, dropout, num_event_types=num_event_types,
            num_time_gap_buckets=num_time_gap_buckets, feature_ids=feature_ids, feature_specs=feature_specs,
            scale=layout == "pre_ln",
        )
        self.encoder = TransformerEncoder(dim, layers, heads, dropout, causal=True,
                                          norm_first=transformer_layout(layout), ffn_mult=ffn_mult,
                                          activation=activation)
        self.request = RequestFeatures(dim, context_specs, user_specs)
        if init_std is not None:
            normal_init(self.input, init_std)
            normal_init(self.encoder, init_std)

    def history_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        return self.encoder(x, items)  # [B, L, D]

    def last_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        return self.encoder(x, items, last_only=True)[:, -1]  # [B, D]: the top block reads one query
