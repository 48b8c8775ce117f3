import torch

from xsell.nn.transformer import TransformerEncoder, attention_mask

# Three left-padded rows of length 4: two real items, four real items, none.
ITEMS = torch.tensor([[0, 0, 5, 7], [3, 4, 5, 6], [0, 0, 0, 0]])


def test_causal_mask_by_eye():
    mask = attention_mask(ITEMS, causal=True)
    assert mask.shape == (3, 1, 4, 4) and mask.dtype == torch.bool
    expected_first = torch.tensor([
        [1, 0, 0, 0],  # padding query: itself only
        [0, 1, 0, 0],
        [0, 0, 1, 0],  # first real item: itself (padding keys hidden)
        [0, 0, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(mask[0, 0], expected_first)
    assert torch.equal(mask[1, 0], torch.ones(4, 4, dtype=torch.bool).tril())
    assert torch.equal(mask[2, 0], torch.eye(4, dtype=torch.bool))  # fully padded: each sees itself


def test_bidirectional_mask_by_eye():
    mask = attention_mask(ITEMS, causal=False)
    expected_first = torch.tensor([
        [1, 0, 1, 1],  # a padding query sees itself and the real keys
        [0, 1, 1, 1],
        [0, 0, 1, 1],  # a real query sees every real key, later ones too
        [0, 0, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(mask[0, 0], expected_first)
    assert mask[1, 0].all()
    assert torch.equal(mask[2, 0], torch.eye(4, dtype=torch.bool))


def test_encoder_on_fully_padded_row_has_no_nan():
    torch.manual_seed(0)
    for causal in (True, False):
        encoder = TransformerEncoder(dim=8, layers=2, heads=2, dropout=0.0, causal=causal).eval()
        out = encoder(torch.randn(3, 4, 8), ITEMS)
        assert out.shape == (3, 4, 8)
        assert torch.isfinite(out).all()


def test_paper_feed_forward_is_square_relu():
    """The SASRec paper's block: ``ReLU(x W1 + b1) W2 + b2`` with D x D weights; BERT's default is 4D GELU."""
    import pytest

    from xsell.nn.transformer import TransformerBlock

    paper = TransformerBlock(dim=8, heads=2, dropout=0.0, ffn_mult=1, activation="relu").eval()
    default = TransformerBlock(dim=8, heads=2, dropout=0.0)
    assert paper.ffn[0].weight.shape == (8, 8) and default.ffn[0].weight.shape == (32, 8)
    x = torch.tensor([[-2.0, -1.0, 0.5, 3.0, 0.0, 1.0, -0.5, 2.0]])
    with torch.no_grad():
        first, second = paper.ffn[0], paper.ffn[3]
        first.weight.copy_(torch.eye(8))
        first.bias.zero_()
        second.weight.copy_(torch.eye(8))
        second.bias.zero_()
        assert torch.equal(paper.ffn(x), x.clamp(min=0))  # negative inputs cut to zero, the rest passed on
        assert not torch.equal(TransformerBlock(8, 2, 0.0, ffn_mult=1).ffn[1](x), x.clamp(min=0))  # GELU
    with pytest.raises(ValueError, match="activation"):
        TransformerBlock(dim=8, heads=2, dropout=0.0, activation="swish")


def test_sasrec_block_normalises_queries_only():
    """``q = LN1(x)``, ``y = LN2(q + attn(q, x, x))``, ``y + ffn(y)``, computed here by hand from the block's
    weights (one head, causal); the last-position path gives the last row."""
    import math

    from xsell.nn.transformer import TransformerBlock, attention_mask

    torch.manual_seed(0)
    dim = 8
    block = TransformerBlock(dim=dim, heads=1, dropout=0.0, ffn_mult=1, layout="sasrec", activation="relu").eval()
    with torch.no_grad():
        for norm in (block.attention_norm, block.ffn_norm):  # LayerNorm weights away from (1, 0)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 4, dim) * 3 + 1
    items = torch.tensor([[0, 5, 6, 7], [4, 5, 6, 7]])
    mask = attention_mask(items, causal=True)
    with torch.no_grad():
        q = block.attention_norm(x)
        w, b = block.attention.qkv.weight, block.attention.qkv.bias
        queries, keys, values = q @ w[:dim].T + b[:dim], x @ w[dim:2 * dim].T + b[dim:2 * dim], x @ w[2 * dim:].T + b[2 * dim:]
        scores = (queries @ keys.transpose(1, 2) / math.sqrt(dim)).masked_fill(~mask[:, 0], float("-inf"))
        attended = block.attention.out(scores.softmax(-1) @ values)
        y = block.ffn_norm(q + attended)
        expected = y + block.ffn(y)
        torch.testing.assert_close(block(x, mask), expected)
        torch.testing.assert_close(block(x, mask, last_only=True), expected[:, -1:])
        pre_ln = TransformerBlock(dim=dim, heads=1, dropout=0.0, ffn_mult=1, activation="relu").eval()
        pre_ln.load_state_dict(block.state_dict())
        assert not torch.allclose(pre_ln(x, mask), expected, atol=1e-3)
