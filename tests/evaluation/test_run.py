"""``xsell.evaluation.run``: how a configured baseline is fitted on the prepared data."""

from __future__ import annotations

import pytest

import xsell.data as xd
from tests.ranking.common import hybrid
from xsell.baselines import ItemKNN
from xsell.data.datamodule import SequenceDataModule
from xsell.evaluation.run import fit_baseline


@pytest.fixture(scope="module")
def prepared():
    dm = SequenceDataModule(xd.synthetic_shop(n_events=4_000, seed=0), max_len=20, item_features=["category"])
    dm.setup()
    return dm.prepared


def test_the_hybrid_reads_the_item_features_the_data_was_prepared_with(prepared):
    fitted = fit_baseline(hybrid(epochs=1), prepared)
    assert prepared.item_features is not None and fitted.module.ranker.uses_item_features


def test_a_baseline_without_features_is_fitted_on_the_log_alone(prepared):
    fitted = fit_baseline(ItemKNN(k=10), prepared)
    assert fitted.similarity is not None
