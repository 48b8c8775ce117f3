import numpy as np
import polars as pl
import pytest

from xsell.evaluation.comparison import compare_runs, paired_comparison


def run(values, rows=None):
    rows = np.arange(len(values)) if rows is None else rows
    return pl.DataFrame({"row": rows, "target": rows + 2, "ndcg@10": values})


def test_paired_comparison_detects_a_clearly_better_run():
    rng = np.random.default_rng(0)
    base = rng.random(300) * 0.5
    better = base + 0.05 + rng.normal(0, 0.05, 300)
    result = paired_comparison(run(better), run(base[::-1].copy(), rows=np.arange(300)[::-1].copy()), "ndcg@10")
    assert result.count == 300
    assert result.difference == pytest.approx(np.mean(better - base))
    assert result.low > 0.03 and result.high < 0.07
    assert result.p_value < 0.001


def test_identical_runs_are_not_different():
    values = np.random.default_rng(1).random(200)
    result = paired_comparison(run(values), run(values), "ndcg@10")
    assert result.difference == 0.0 and result.low == 0.0 and result.high == 0.0
    assert result.p_value == 1.0


def test_comparison_needs_the_same_targets():
    with pytest.raises(ValueError, match="do not hold the same targets"):
        paired_comparison(run(np.ones(3)), run(np.ones(4)), "ndcg@10")
    other = run(np.ones(3)).with_columns(pl.col("target") + 1)
    with pytest.raises(ValueError, match="3 rows have the same 'row' but different targets"):
        paired_comparison(run(np.ones(3)), other, "ndcg@10")


def test_compare_runs_computes_metrics_from_ranks():
    a = pl.DataFrame({"row": [0, 1, 2, 3], "rank": [1, 2, 50, 3]})
    b = pl.DataFrame({"row": [3, 2, 1, 0], "rank": [30, 50, 20, 1]})
    frame = compare_runs(a, b, ["recall@10", "mrr@10"], n_resamples=100, n_permutations=100)
    assert frame.get_column("metric").to_list() == ["recall@10", "mrr@10"]
    assert frame.get_column("mean_a").to_list() == pytest.approx([0.75, (1 + 0.5 + 1 / 3) / 4])
    assert frame.get_column("difference").to_list() == pytest.approx([0.5, (0.5 + 1 / 3) / 4])
