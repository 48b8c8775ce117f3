import torch

from tests.models import common
from xsell.models import MeanPool


def build(**options) -> MeanPool:
    return common.seeded(lambda: MeanPool(common.NUM_ITEMS, dim=common.DIM, dropout=0.1, max_len=common.MAX_LEN,
                                          **options))


def test_output_is_the_mlp_of_the_mean_item_vector():
    model = build()
    items = torch.tensor([[0, 0, 3, 9]])
    with torch.no_grad():
        expected = model.mlp(model.input.items(torch.tensor([3, 9])).mean(0))
        torch.testing.assert_close(model.encode_sequence(items, items.clamp(max=0), items.clamp(max=0))[0], expected)
