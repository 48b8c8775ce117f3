from tests.models import common
from xsell.models import SASRec


def build(**options) -> SASRec:
    return common.seeded(lambda: SASRec(common.NUM_ITEMS, dim=common.DIM, layers=2, heads=2, dropout=0.1,
                                        max_len=common.MAX_LEN, **options))


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
