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

from xsell.models.transformer_base import TransformerSequenceModel


class SASRec(TransformerSequenceModel):
    """Causal transformer next-item model; arguments as :class:`TransformerSequenceModel`.

    Example::

        model = SASRec(num_items=1000, dim=64, layers=2, heads=2, max_len=50)
        user = model.encode_sequence(items, events, gaps)  # [B, 64]
        scores = user @ model.item_embeddings().T           # [B, 1000]
    """

    causal = True
