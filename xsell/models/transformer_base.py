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

from typing import Any

from torch import Tensor, nn

from xsell.models.base import SequenceInput, SequenceModel
from xsell.models.inputs import InputSpec
from xsell.nn.embeddings import RequestFeatures
from xsell.nn.transformer import TransformerEncoder, check_layout, normal_init


class TransformerSequenceModel(SequenceModel):
    """Transformer next-item model; subclasses set ``causal`` / ``extra_tokens`` and may override ``output_head``.

    Args:
        inputs: the data's sizes (:class:`xsell.models.inputs.InputSpec`: catalog, ``max_len`` (learned
            positions), event types, time gaps, item features, request context and user features); or the
            item count with those sizes as keywords (``SASRec(1000, dim=64, max_len=50)``).
        dim: hidden size ``D``. layers / heads / dropout: transformer shape.
        layout: ``pre_ln`` (default: sqrt(D)-scaled item vectors, pre-LN blocks, final LayerNorm), ``post_ln``
            (RecBole's: unscaled inputs, input LayerNorm, post-LN blocks) or ``sasrec`` (the SASRec paper's code
            and the SASRec+ reference: scaled inputs, blocks that normalise only the queries, final LayerNorm;
            see :class:`xsell.nn.transformer.TransformerBlock`).
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
        inputs: InputSpec | int | None = None,
        dim: int = 64,
        layers: int = 2,
        heads: int = 2,
        dropout: float = 0.2,
        layout: str = "pre_ln",
        init_std: float | None = None,
        ffn_mult: int = 4,
        activation: str = "gelu",
        output_table: str = "tied",
        output_bias: bool = False,
        **sizes: Any,
    ) -> None:
        super().__init__()
        inputs = InputSpec.of(inputs, **sizes)
        self.max_len = inputs.max_len
        self.input = SequenceInput(inputs, dim, dropout, extra_tokens=self.extra_tokens,
                                   scale=check_layout(layout) != "post_ln")
        self.encoder = TransformerEncoder(dim, layers, heads, dropout, causal=self.causal, layout=layout,
                                          ffn_mult=ffn_mult, activation=activation)
        self.head = self.output_head(dim)
        self.request = RequestFeatures(dim, inputs.context_specs, inputs.user_specs)
        if init_std is not None:
            for part in (self.input, self.encoder, self.head):
                normal_init(part, init_std)
        self.set_output_table(output_table, inputs.num_items, dim, std=init_std, bias=output_bias)

    def output_head(self, dim: int) -> nn.Module:
        """Maps a block output ``[..., D]`` into item-vector space; none by default."""
        return nn.Identity()

    def history_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        return self.head(self.encoder(x, items))  # [B, L, D]

    def last_output(self, items: Tensor, events: Tensor, time_gaps: Tensor) -> Tensor:
        x = self.input(items, events, time_gaps)  # [B, L, D]
        return self.head(self.encoder(x, items, last_only=True)[:, -1])  # [B, D]: the top block reads one query
