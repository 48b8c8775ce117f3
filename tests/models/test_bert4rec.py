import torch

from tests.models import common
from xsell.models import BERT4Rec


def build(**options) -> BERT4Rec:
    return common.seeded(lambda: BERT4Rec(common.NUM_ITEMS, dim=common.DIM, layers=2, heads=2, dropout=0.1,
                                          max_len=common.MAX_LEN, **options))


def test_mask_token_has_its_own_row():
    model = build()
    assert model.mask_index == common.NUM_ITEMS
    assert model.input.items.ids.num_embeddings == common.NUM_ITEMS + 1  # the mask token's row


def test_bidirectional():
    """Changing the most recent item changes the outputs at every earlier (real) position."""
    model = build()
    items = common.ITEMS[:1]
    changed = items.clone()
    changed[0, -1] = 29
    before = common.sequence_output(model, items, common.EVENTS[:1], common.GAPS[:1])
    after = common.sequence_output(model, changed, common.EVENTS[:1], common.GAPS[:1])
    for t in range(common.MAX_LEN - 1):
        assert not torch.allclose(after[:, t], before[:, t], atol=1e-4)


def test_encode_appends_the_mask_token():
    model = build(**common.hybrid_options())
    items, events, gaps = common.ITEMS, common.EVENTS, common.GAPS
    mask = torch.full((2, 1), model.mask_index)
    blank = torch.zeros(2, 1, dtype=torch.long)
    keep = common.MAX_LEN  # the inputs are MAX_LEN wide: the oldest column makes room for the mask
    shifted = common.sequence_output(model, torch.cat([items, mask], 1)[:, -keep:],
                                     torch.cat([events, blank], 1)[:, -keep:], torch.cat([gaps, blank], 1)[:, -keep:])
    torch.testing.assert_close(common.encode(model), shifted[:, -1], atol=1e-6, rtol=0)
    # The oldest item of a full window dropped out: it no longer matters.
    changed = items.clone()
    changed[0, 0] = 29
    torch.testing.assert_close(common.encode(model, changed), common.encode(model), atol=1e-6, rtol=0)


def test_post_ln_layout_with_small_normal_init():
    def post_ln(**options) -> BERT4Rec:
        return build(layout="post_ln", init_std=0.02, **options)

    common.check_left_padding_invariance(post_ln)
    common.check_scripts(post_ln)
    assert abs(post_ln().head[0].weight.std().item() - 0.02) < 0.004
