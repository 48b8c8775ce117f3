"""The transformer encoder of SASRec and BERT4Rec (pre-LN by default; post-LN or the SASRec paper's block on
request), its attention masks, and the small-normal initialisation of BERT and RecBole."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def attention_mask(items: Tensor, causal: bool) -> Tensor:
    """Boolean ``[B, 1, L, L]`` mask, True where a query may attend to a key.

    Keys that are padding are hidden; with ``causal`` a query sees only itself and earlier columns. Every
    query may always see itself, so a fully padded row never produces a NaN softmax.
    """
    length = items.shape[1]
    allowed = (items != 0).unsqueeze(1).expand(-1, length, -1)  # [B, L(query), L(key)]
    if causal:
        allowed = allowed & torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
    allowed = allowed | torch.eye(length, dtype=torch.bool, device=items.device)
    return allowed.unsqueeze(1)


class SelfAttention(nn.Module):
    """Multi-head self-attention via ``scaled_dot_product_attention`` (same path in train and eval)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: Tensor, mask: Tensor, last_only: bool = False, keys: Optional[Tensor] = None) -> Tensor:  # noqa: UP045 - TorchScript reads Optional[...]
        """``x`` ``[B, L, D]``, ``mask`` ``[B, 1, L, L]`` -> ``[B, L, D]``, or ``[B, 1, D]`` for the last query
        only (``last_only``: keys and values still come from every position). ``keys`` ``[B, L, D]``: keys and
        values come from it instead of ``x`` (queries still from ``x``)."""
        batch, length, dim = x.size(0), x.size(1), x.size(2)
        head_dim = dim // self.heads
        if last_only or keys is not None:
            queries = x[:, -1:] if last_only else x
            q = F.linear(queries, self.qkv.weight[:dim], self.qkv.bias[:dim])  # [B, Q, D]
            q = q.view(batch, queries.size(1), self.heads, head_dim).transpose(1, 2)  # [B, H, Q, D/H]
            source = x if keys is None else keys
            kv = F.linear(source, self.qkv.weight[dim:], self.qkv.bias[dim:])  # [B, L, 2D]
            kv = kv.view(batch, length, 2, self.heads, head_dim).permute(2, 0, 3, 1, 4)
            k, v = kv[0], kv[1]  # [B, H, L, D/H] each
            if last_only:
                mask = mask[:, :, -1:]  # [B, 1, 1, L]
        else:
            qkv = self.qkv(x).view(batch, length, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, L, D/H] each
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(batch, q.size(2), dim))  # [B, L or 1, D]


ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


LAYOUTS = ("pre_ln", "post_ln", "sasrec")


class TransformerBlock(nn.Module):
    """One block in one of three layouts, with a feed-forward of width ``ffn_mult * D`` and ``activation``
    (BERT: 4x GELU; the SASRec paper: 1x ReLU):

    - ``pre_ln``: ``x + attn(LN(x))`` then ``x + ffn(LN(x))``;
    - ``post_ln`` (the original transformer's and BERT's): ``LN(x + attn(x))`` then ``LN(x + ffn(x))``;
    - ``sasrec`` (the SASRec paper's code and the SASRec+ reference): only the queries are normalised,
      ``q = LN(x)``, ``y = q + attn(queries q, keys and values x)``, then ``z = LN(y)``, ``z + ffn(z)``.
    """

    def __init__(self, dim: int, heads: int, dropout: float, ffn_mult: int = 4, layout: str = "pre_ln",
                 activation: str = "gelu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        check_layout(layout)
        self.norm_first = layout == "pre_ln"
        self.raw_keys = layout == "sasrec"
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim, heads, dropout)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim), ACTIVATIONS[activation](), nn.Dropout(dropout),
            nn.Linear(ffn_mult * dim, dim),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, last_only: bool = False) -> Tensor:
        """``[B, L, D]`` -> ``[B, L, D]``, or ``[B, 1, D]``: the last position only (``last_only``), which is
        all that inference needs from the top block."""
        if self.raw_keys:
            q = self.attention_norm(x)  # [B, L, D]
            residual = q[:, -1:] if last_only else q
            y = self.ffn_norm(residual + self.dropout(self.attention(q, mask, last_only, keys=x)))
            return y + self.dropout(self.ffn(y))
        residual = x[:, -1:] if last_only else x
        if self.norm_first:
            x = residual + self.dropout(self.attention(self.attention_norm(x), mask, last_only))
            return x + self.dropout(self.ffn(self.ffn_norm(x)))
        x = self.attention_norm(residual + self.dropout(self.attention(x, mask, last_only)))
        return self.ffn_norm(x + self.dropout(self.ffn(x)))


class TransformerEncoder(nn.Module):
    """A stack of blocks (``TransformerBlock``'s layouts), causal or bidirectional: pre-LN and SASRec blocks
    end with a final LayerNorm, post-LN blocks start with one on the input (RecBole's SASRec and BERT4Rec)."""

    def __init__(self, dim: int, layers: int, heads: int, dropout: float, causal: bool,
                 layout: str = "pre_ln", ffn_mult: int = 4, activation: str = "gelu") -> None:
        super().__init__()
        check_layout(layout)
        self.causal = causal
        self.final_norm = layout != "post_ln"  # True: the LayerNorm after the blocks; False: on the input
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, heads, dropout, ffn_mult=ffn_mult, layout=layout, activation=activation)
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)  # final (pre-LN, SASRec) or input (post-LN) LayerNorm

    def forward(self, x: Tensor, items: Tensor, last_only: bool = False) -> Tensor:
        """``x`` ``[B, L, D]`` embedded inputs, ``items`` ``[B, L]`` (for the padding mask) -> ``[B, L, D]``;
        with ``last_only``, ``[B, 1, D]``: the top block computes the last position only (inference)."""
        mask = attention_mask(items, self.causal)
        if not self.final_norm:
            x = self.norm(x)
        top = len(self.blocks) - 1
        for depth, block in enumerate(self.blocks):
            x = block(x, mask, last_only and depth == top)
        return self.norm(x) if self.final_norm else x


def check_layout(layout: str) -> str:
    """``layout`` if it is one of ``LAYOUTS``; anything else is an error."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    return layout


def normal_init(module: nn.Module, std: float) -> None:
    """BERT's initialisation (also RecBole's): every Linear and Embedding weight ``N(0, std)``, Linear biases
    zero, padding rows zero; LayerNorms keep ``(1, 0)``."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Embedding)):
            nn.init.normal_(layer.weight, std=std)
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            nn.init.zeros_(layer.bias)
        if isinstance(layer, nn.Embedding) and layer.padding_idx is not None:
            with torch.no_grad():
                layer.weight[layer.padding_idx].zero_()
