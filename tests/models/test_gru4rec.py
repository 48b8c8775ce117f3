import torch

from tests.models import common
from xsell.models import GRU4Rec


def build(**options) -> GRU4Rec:
    return common.seeded(lambda: GRU4Rec(common.NUM_ITEMS, dim=common.DIM, layers=2, dropout=0.1,
                                        max_len=common.MAX_LEN, **options))


def test_encode_equals_the_packed_run_at_the_last_item():
    """The unpacked, export-friendly encode path gives the packed run's last output."""
    for options in ({}, common.hybrid_options()):
        model = build(**options)
        for items, events, gaps in ((common.ITEMS, common.EVENTS, common.GAPS),
                                    (common.ITEMS[:, -5:], common.EVENTS[:, -5:], common.GAPS[:, -5:])):
            packed_last = common.sequence_output(model, items, events, gaps)[:, -1]
            torch.testing.assert_close(common.encode(model, items, events, gaps), packed_last, atol=1e-6, rtol=0)
