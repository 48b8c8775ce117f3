import torch

from tests.models import common
from xsell.models import MeanPool


def build(**options) -> MeanPool:
    return common.seeded(lambda: MeanPool(common.NUM_ITEMS, dim=common.DIM, dropout=0.1, max_len=common.MAX_LEN,
                                          **options))


def test_shapes():
    common.check_shapes(build)


def test_causal():
    common.check_causal(build)


def test_left_padding_invariance():
    common.check_left_padding_invariance(build)
    common.check_left_padding_invariance(build, **common.hybrid_options())


def test_all_padding_row_has_no_nan():
    common.check_all_padding_row(build)


def test_scripts():
    common.check_scripts(build)


def test_hybrid_inputs_change_the_output():
    common.check_hybrid_inputs(build)


def test_output_is_the_mlp_of_the_mean_item_vector():
    model = build()
    items = torch.tensor([[0, 0, 3, 9]])
    with torch.no_grad():
        expected = model.mlp(model.input.items(torch.tensor([3, 9])).mean(0))
        torch.testing.assert_close(model.encode_sequence(items, items.clamp(max=0), items.clamp(max=0))[0], expected)
