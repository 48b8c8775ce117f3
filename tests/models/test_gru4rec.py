import warnings

import pytest
import torch

from tests.models import common
from xsell.models import GRU4Rec


def build(**options) -> GRU4Rec:
    return common.seeded(lambda: GRU4Rec(common.NUM_ITEMS, dim=common.DIM, layers=2, dropout=0.1,
                                        max_len=common.MAX_LEN, **options))


def test_both_encode_paths_equal_the_packed_run_at_the_last_item():
    """Eager encode (the packed run's final state) and the static path that TorchScript and torch.export run
    (the unpacked run read at the last item) both give ``sequence_output``'s last position, for histories
    of every length from none to ``max_len`` in one batch."""
    lengths = torch.arange(common.MAX_LEN + 1)  # [9]: 0 ... 8 items
    columns = torch.arange(common.MAX_LEN)
    real = columns.unsqueeze(0) >= common.MAX_LEN - lengths.unsqueeze(1)  # [9, L] left-padded
    items = torch.where(real, columns.unsqueeze(0) * 3 % (common.NUM_ITEMS - 2) + 2, 0)
    events, gaps = torch.where(real, 2, 0), torch.where(real, 5, 0)
    for options in ({}, common.hybrid_options()):
        model = build(**options)
        packed_last = common.sequence_output(model, items, events, gaps)[:, -1]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated")
            static = common.encode(torch.jit.script(model), items, events, gaps)  # the static path
        torch.testing.assert_close(common.encode(model, items, events, gaps), packed_last, atol=1e-6, rtol=0)
        torch.testing.assert_close(static, packed_last, atol=1e-6, rtol=0)


def test_init_std_sets_the_item_table_and_keeps_padding_zero():
    torch.manual_seed(0)
    default = GRU4Rec(2000, dim=32, max_len=5)
    small = GRU4Rec(2000, dim=32, max_len=5, init_std=0.01)
    table = small.input.items.ids.weight
    assert table[1:].std().item() == pytest.approx(0.01, rel=0.05)
    assert default.input.items.ids.weight[1:].std().item() == pytest.approx(32**-0.5, rel=0.05)
    assert table[0].abs().max().item() == 0.0
    separate = GRU4Rec(2000, dim=32, max_len=5, init_std=0.01, output_table="separate")
    assert separate.output_items.weight[1:].std().item() == pytest.approx(0.01, rel=0.05)
