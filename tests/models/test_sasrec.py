from tests.models import common
from xsell.models import SASRec


def build(**options) -> SASRec:
    return common.seeded(lambda: SASRec(common.NUM_ITEMS, dim=common.DIM, layers=2, heads=2, dropout=0.1,
                                        max_len=common.MAX_LEN, **options))


def test_post_ln_layout_with_small_normal_init():
    """RecBole's layout and initialisation: still causal, padding-invariant and scriptable; weights N(0, 0.02)."""
    def post_ln(**options) -> SASRec:
        return build(layout="post_ln", init_std=0.02, **options)

    common.check_causal(post_ln)
    common.check_left_padding_invariance(post_ln)
    common.check_scripts(post_ln)
    model = post_ln()
    assert model.input.scale == 1.0 and not model.encoder.final_norm
    weight = model.encoder.blocks[0].attention.qkv.weight
    assert abs(weight.std().item() - 0.02) < 0.003 and model.encoder.blocks[0].attention.qkv.bias.abs().max() == 0
    assert model.input.items.ids.weight[0].abs().max() == 0  # padding row stays zero


def test_paper_block_is_causal_and_scripts():
    """The SASRec paper's 1x ReLU feed-forward (``ffn_mult=1 activation=relu``) keeps the model's contract."""
    def paper(**options) -> SASRec:
        return build(ffn_mult=1, activation="relu", **options)

    common.check_causal(paper)
    common.check_scripts(paper)
    assert paper().encoder.blocks[1].ffn[0].weight.shape == (common.DIM, common.DIM)


def test_sasrec_layout_keeps_the_contract():
    """The paper's block layout (queries normalised, keys and values not): causal, padding-invariant, scriptable,
    with scaled inputs and a final LayerNorm."""
    def paper(**options) -> SASRec:
        return build(layout="sasrec", ffn_mult=1, activation="relu", init_std=0.02, **options)

    common.check_causal(paper)
    common.check_left_padding_invariance(paper)
    common.check_scripts(paper)
    model = paper()
    assert model.input.scale == common.DIM**0.5 and model.encoder.final_norm


def test_unknown_layout_is_rejected():
    import pytest

    with pytest.raises(ValueError, match="layout"):
        build(layout="sandwich")
