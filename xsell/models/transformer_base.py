"""What SASRec and BERT4Rec share: item and context inputs, a stack of transformer blocks, an output head,
and the request's side fused on top.

1. Each history item becomes its (shared) item vector -- scaled by sqrt(D) in the pre-LN layout -- plus a
   learned position and, optionally, event-type and time-gap embeddings (``SequenceInput``).
2. Transformer blocks attend over the history: causally (``causal = True``: position t sees positions
   <= t only) or in both directions.
3. An output head maps each block output into item-vector space (none for SASRec; BERT4Rec's dense-GELU-
   LayerNorm), where it is matched against the tied item table (or a separate or offset output
   table: ``output_table``).

A model only states its attention (``causal``), its extra input tokens (``extra_tokens``) and its head
(``output_head``).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from xsell.data.features import FeatureSpec
from xsell.models.base import SequenceInput, SequenceModel
from xsell.nn.embeddings import RequestFeatures
from xsell.nn.transformer import TransformerEncoder, normal_init, transformer_layout


class TransformerSequenceModel(SequenceModel):
    """Transformer next-item model; subclasses set ``causal`` / ``extra_tokens`` and may override ``output_head``.

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
        init_std: initialise the input embeddings, the encoder and the head ``N(0, init_std)`` (BERT/RecBole:
            0.02); None keeps the defaults (item vectors ``N(0, 1/D)``, PyTorch's Linear initialisation).
        ffn_mult / activation: the blocks' feed-forward width (``ffn_mult * D``) and non-linearity: 4x GELU
            (default, BERT's and RecBole's) or the SASRec paper's 1x ReLU (``ffn_mult=1 activation=relu``).
        output_table: ``tied`` (default, as both papers), ``separate`` or ``offset`` (see
            ``SequenceModel.set_output_table``).
        output_bias: a learned per-item score bias (``SequenceModel.set_output_table``; representations and
            item vectors then have ``D + 1`` columns).
    """

    causal: bool = True
    extra_tokens: int = 0  # rows after the catalog in the item table (BERT4Rec's [MASK])

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
        output_table: str = "tied",
        output_bias: bool = False,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.input = SequenceInput(
            num_items, dim, max_len, dropout, num_event_types=num_event_types,
            num_time_gap_buckets=num_time_gap_buckets, feature_ids=feature_ids, feature_specs=feature_specs,
            extra_tokens=self.extra_tokens, scale=layout == "pre_ln",
        )
        self.encoder = TransformerEncoder(dim, layers, heads, dropout, causal=self.causal,
                                          norm_first=transformer_layout(layout), ffn_mult=ffn_mult,
                                          activation=activation)
        self.head = self.output_head(dim)
        self.request = RequestFeatures(dim, context_specs, user_specs)
        if init_std is not None:
            for part in (self.input, self.encoder, self.head):
                normal_init(part, init_std)
        self.set_output_table(output_table, num_items, dim, std=init_std, bias=output_bias)

    def output_head(self, dim: int) -> nn.Module:
        """Maps a block output ``[..., D]`` into item-vector space; none by default."""
        return nn.Identity()

    def history_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        return self.head(self.encoder(x, items))  # [B, L, D]

    def last_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        return self.head(self.encoder(x, items, last_only=True)[:, -1])  # [B, D]: the top block reads one query
