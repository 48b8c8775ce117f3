import numpy as np
import polars as pl
import pytest

from tests.baselines.common import history_batch, scores_by_id, tiny_datamodule
from xsell.baselines import AssociationRules

# Baskets (training items per user): a {x, y, z} (validation w, test x), b {x, y}, c {y, z}, d {w, x}.
# U = 4; n: x 3, y 3, z 2, w 1; n(X, Y): xy 2, xz 1, yz 2, wx 1.
SEQUENCES = {"a": ["x", "y", "z", "w", "x"], "b": ["x", "y"], "c": ["y", "z"], "d": ["w", "x"]}


@pytest.fixture(scope="module")
def log():
    return tiny_datamodule(SEQUENCES).prepared.log


def rule(frame: pl.DataFrame, x: str, y: str) -> dict:
    rows = frame.filter((pl.col("antecedent") == x) & (pl.col("consequent") == y)).to_dicts()
    assert len(rows) == 1, (x, y)
    return rows[0]


def test_support_confidence_lift(log):
    rules = AssociationRules().fit(log).rules()
    assert rules.columns == ["antecedent", "consequent", "support", "confidence", "lift"]
    assert rules.height == 8  # every ordered pair of co-occurring items
    expected = {  # (support, confidence, lift)
        ("x", "y"): (2 / 4, 2 / 3, (2 / 3) / (3 / 4)),
        ("y", "z"): (2 / 4, 2 / 3, (2 / 3) / (2 / 4)),
        ("z", "y"): (2 / 4, 1.0, 1.0 / (3 / 4)),
        ("x", "z"): (1 / 4, 1 / 3, (1 / 3) / (2 / 4)),
        ("w", "x"): (1 / 4, 1.0, 1.0 / (3 / 4)),
        ("x", "w"): (1 / 4, 1 / 3, (1 / 3) / (1 / 4)),
    }
    for (x, y), values in expected.items():
        row = rule(rules, x, y)
        assert (row["support"], row["confidence"], row["lift"]) == pytest.approx(values)


def test_thresholds_and_ordering(log):
    frequent = AssociationRules(min_support=0.3, metric="lift").fit(log).rules()
    assert list(zip(frequent["antecedent"], frequent["consequent"], strict=True)) == [
        ("y", "z"), ("z", "y"), ("x", "y"), ("y", "x")]  # lift 4/3, 4/3, 8/9, 8/9
    confident = AssociationRules(min_confidence=0.7).fit(log).rules(top=1)
    assert confident.to_dicts() == [{"antecedent": "z", "consequent": "y", "support": 0.5, "confidence": 1.0,
                                     "lift": pytest.approx(4 / 3)}]


def test_scores_from_fired_rules(log):
    batch = history_batch(log, [["x"], ["x", "z"], ["w", "y"]])
    items = ["x", "y", "z", "w"]
    best = scores_by_id(log, AssociationRules(min_support=0.3, tie_break=0.0).fit(log).score(batch), items)
    np.testing.assert_allclose(best, [[0, 2 / 3, 0, 0], [0, 1.0, 0, 0], [2 / 3, 0, 2 / 3, 0]], rtol=1e-6)
    summed = AssociationRules(min_support=0.3, aggregate="sum", tie_break=0.0).fit(log).score(batch)
    assert scores_by_id(log, summed, items)[1].tolist() == pytest.approx([0, 2 / 3 + 1.0, 0, 0])
    recent = AssociationRules(history=1, metric="lift", tie_break=0.0).fit(log).score(batch)
    # Only y fires in the third row: y -> x 8/9, y -> z 4/3.
    assert scores_by_id(log, recent, items)[2].tolist() == pytest.approx([8 / 9, 0, 4 / 3, 0])


def test_targets_are_not_in_baskets(log):
    # a's validation target w would add w to a's basket: rules y -> w, z -> w, and n(w, x) = 2.
    rules = AssociationRules().fit(log).rules()
    assert rules.filter(pl.col("consequent") == "w")["antecedent"].to_list() == ["x"]
    assert rule(rules, "w", "x")["support"] == pytest.approx(1 / 4)


def test_bad_options():
    with pytest.raises(ValueError, match="metric"):
        AssociationRules(metric="leverage")
    with pytest.raises(ValueError, match="aggregate"):
        AssociationRules(aggregate="mean")
