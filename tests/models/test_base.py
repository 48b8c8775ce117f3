"""The request side every model shares (``SequenceModel`` + ``RequestFeatures``): the context of the
predicted event and the user's features, checked on each model."""

from __future__ import annotations

import pytest

from tests.models import common, test_bert4rec, test_gru4rec, test_mean_pool, test_sasrec, test_two_tower

BUILDS = {"sasrec": test_sasrec.build, "bert4rec": test_bert4rec.build, "gru4rec": test_gru4rec.build,
          "mean_pool": test_mean_pool.build, "two_tower": test_two_tower.build}


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_request_features(name):
    common.check_request_features(BUILDS[name])
