"""The contract every next-item model shares (``SequenceModel``): shapes, causality, padding, TorchScript,
hybrid inputs, output tables and the request side (context of the predicted event, user features), checked
on each model. Model-specific behaviour lives in the per-model modules."""

from __future__ import annotations

import pytest

from tests.models import common, test_bert4rec, test_gru4rec, test_mean_pool, test_sasrec, test_two_tower

BUILDS = {"sasrec": test_sasrec.build, "bert4rec": test_bert4rec.build, "gru4rec": test_gru4rec.build,
          "mean_pool": test_mean_pool.build, "two_tower": test_two_tower.build}
CAUSAL = sorted(set(BUILDS) - {"bert4rec"})  # BERT4Rec is bidirectional by design (test_bert4rec)
OUTPUT_TABLES = ["bert4rec", "gru4rec", "sasrec"]
# The two-tower model routes hybrid inputs to its query tower and item features to its item tower
# (test_two_tower checks both).
HYBRID = sorted(set(BUILDS) - {"two_tower"})


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_shapes(name):
    common.check_shapes(BUILDS[name])


@pytest.mark.parametrize("name", CAUSAL)
def test_causal(name):
    common.check_causal(BUILDS[name])


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_left_padding_invariance(name):
    common.check_left_padding_invariance(BUILDS[name])
    common.check_left_padding_invariance(BUILDS[name], **common.hybrid_options())


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_all_padding_row_has_no_nan(name):
    common.check_all_padding_row(BUILDS[name])


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_scripts(name):
    common.check_scripts(BUILDS[name])


@pytest.mark.parametrize("name", HYBRID)
def test_hybrid_inputs_change_the_output(name):
    common.check_hybrid_inputs(BUILDS[name])


@pytest.mark.parametrize("name", OUTPUT_TABLES)
def test_output_tables(name):
    common.check_output_tables(BUILDS[name], causal=name in CAUSAL)


@pytest.mark.parametrize("name", OUTPUT_TABLES)
def test_output_bias(name):
    common.check_output_bias(BUILDS[name], causal=name in CAUSAL)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_request_features(name):
    common.check_request_features(BUILDS[name])
