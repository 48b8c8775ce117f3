"""The synthetic shop's survey: answers follow the ground-truth affinity, seeded and vectorised."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from xsell.data.feedback import validate_feedback
from xsell.data.schema import ANCHOR, HELPFUL, ITEM, RECOMMENDED, TIMESTAMP, USER
from xsell.data.survey import answer_survey, random_policy, random_survey
from xsell.data.synthetic import synthetic_shop


@pytest.fixture(scope="module")
def shop():
    return synthetic_shop(4_000, seed=2)


def first_item(shop, category: str) -> str:
    return shop.items.filter(pl.col("category") == category).get_column(ITEM)[0]


def test_answers_follow_the_normalised_affinity(shop):
    camera, card, bag, tent = (first_item(shop, c) for c in ("camera", "memory_card", "camera_bag", "tent"))
    n = 4_000
    shown = pl.DataFrame({USER: ["u"] * 3 * n, ANCHOR: [camera] * 3 * n, RECOMMENDED: [card, bag, tent] * n,
                          TIMESTAMP: np.arange(3 * n)})
    answers = answer_survey(shop.ground_truth, shown, noise=0.1, seed=0)
    assert validate_feedback(answers).equals(answers)
    rate = answers.group_by(RECOMMENDED).agg(pl.col(HELPFUL).mean()).to_dict(as_series=False)
    rate = dict(zip(rate[RECOMMENDED], rate[HELPFUL], strict=True))
    # p = 0.1 + 0.8 * affinity / 0.7: memory card (0.49) 0.66, camera bag (0.21) 0.34, tent (0) 0.1.
    assert rate[card] == pytest.approx(0.1 + 0.8 * 0.49 / 0.7, abs=0.03)
    assert rate[bag] == pytest.approx(0.1 + 0.8 * 0.21 / 0.7, abs=0.03)
    assert rate[tent] == pytest.approx(0.1, abs=0.02)
    exact = answer_survey(shop.ground_truth, shown.head(3), noise=0.0, seed=0)
    assert exact.get_column(HELPFUL).to_list()[2] is False  # unrelated, no noise: never helpful
    assert answer_survey(shop.ground_truth, shown, noise=0.1, seed=0).equals(answers)
    assert not answer_survey(shop.ground_truth, shown, noise=0.1, seed=1).equals(answers)
    with pytest.raises(ValueError, match="noise"):
        answer_survey(shop.ground_truth, shown, noise=0.7)


def test_random_policy_shows_k_distinct_items_after_each_purchase(shop):
    shown = random_policy(shop, k=5, seed=3)
    purchases = shop.events.filter(pl.col("event") == "purchase")
    assert shown.height == 5 * purchases.height
    assert shown.group_by(USER, ANCHOR, TIMESTAMP).agg(pl.col(RECOMMENDED).n_unique()).get_column(
        RECOMMENDED).min() == 5
    assert shown.get_column(RECOMMENDED).is_in(shop.items.get_column(ITEM).implode()).all()
    survey = random_survey(shop, k=5, seed=3)
    assert survey.select(USER, ANCHOR, RECOMMENDED, TIMESTAMP).equals(shown)
    assert 0.05 < survey.get_column(HELPFUL).mean() < 0.3  # mostly unrelated items: near the noise level
