import math

import matplotlib.image
import numpy as np
import polars as pl
import pytest

from xsell.baselines.popularity import MostPopular
from xsell.errors import SchemaError
from xsell.evaluation.protocol import evaluate_scorer
from xsell.evaluation.report import EvaluationReport, comparison_table, evaluate, plot_reports, report_frame

from .tiny import oracle, tiny_module

KS = (1, 3, 10)


@pytest.fixture(scope="module")
def reports():
    dm = tiny_module()
    data = dm.prepared
    popularity = MostPopular().fit(data.log)
    kept = dict(exclude_seen=False)  # the numbers below were worked out with seen items kept
    model = evaluate(oracle(data.num_items), data, ks=KS, baseline=popularity.score, name="oracle", n_resamples=200,
                     **kept)
    baseline = evaluate(popularity.score, data, ks=KS, name="popularity", part="validation", n_resamples=200, **kept)
    return dm, popularity, model, baseline


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_metrics_equal_the_protocol(reports, exclude_seen):
    dm, popularity, _, _ = reports
    for part, loader in (("test", dm.test_dataloader()), ("validation", dm.val_dataloader())):
        expected = evaluate_scorer(popularity.score, loader, ks=KS, exclude_seen=exclude_seen)
        report = evaluate(popularity.score, dm.prepared, ks=KS, part=part, exclude_seen=exclude_seen,
                          n_resamples=10)
        for name, value in expected.items():
            assert report.metrics[name] == pytest.approx(value, rel=1e-12, abs=1e-15)


def test_sampled_metrics_only_when_asked_and_equal_to_the_protocol(reports):
    dm, popularity, model, _ = reports
    assert not any(key.startswith("sampled") for key in model.metrics)  # full ranking only by default
    expected = evaluate_scorer(popularity.score, dm.test_dataloader(), ks=KS, sampled_negatives=2, seed=3)
    report = evaluate(popularity.score, dm.prepared, ks=KS, sampled_negatives=2, seed=3, n_resamples=10)
    sampled = {key: value for key, value in report.metrics.items() if key.startswith("sampled_")}
    assert sampled == {key: value for key, value in expected.items() if key.startswith("sampled_")}
    assert sampled["sampled_recall@3"] == 0.75  # 2 negatives: every known target is in the top 3 of 3
    oracle_report = evaluate(oracle(dm.prepared.num_items), dm.prepared, ks=KS, sampled_negatives=2, n_resamples=10)
    assert oracle_report.metrics["sampled_recall@1"] == 0.75  # rank 1 among its candidates; a's is unknown
    assert "sampled_recall" in set(report.to_frame().get_column("metric"))


def test_report_contents(reports):
    _, _, model, _ = reports
    m = model.metrics
    assert model.count == 4 and model.part == "test" and model.ks == KS
    assert m["recall@1"] == 0.75 and m["ndcg@10"] == 0.75  # every known target at rank 1; a's is unknown
    assert m["recall@1_ci_low"] <= 0.75 <= m["recall@1_ci_high"]
    assert {"ndcg@10_ci_low", "mrr@10_ci_high", "recall@3_ci_low"} <= set(m)
    for k in KS:
        for name in ("coverage", "novelty", "diversity", "complement_rate", "association_lift", "category_lift"):
            assert f"{name}@{k}" in m
    assert 0.0 <= m["coverage@10"] <= 1.0 and m["novelty@10"] > 0
    assert m["lift_mrr@10"] == pytest.approx(0.75 / model.baseline_metrics["mrr@10"])
    assert model.baseline_metrics["recall@1"] == 0.0 and m["lift_recall@1"] == math.inf
    assert set(model.segments) == {"history_length", "last_event", "target_event", "group", "device"}
    assert model.segments["device"].get_column("count").to_list() == [3, 1]
    assert model.comparison.get_column("metric").to_list()[:3] == ["ndcg@1", "recall@1", "mrr@1"]
    assert {"history_bucket", "group"} <= set(model.table.columns)


def test_lift_of_zero_baselines():
    from xsell.evaluation.report import _ratio

    assert _ratio(0.5, 0.25) == 2.0 and _ratio(0.5, 0.0) == math.inf and math.isnan(_ratio(0.0, 0.0))


def test_frames_and_markdown(reports):
    _, _, model, baseline = reports
    frame = model.to_frame()
    assert frame.columns == ["report", "part", "metric", "k", "value", "ci_low", "ci_high", "baseline", "lift"]
    ndcg = frame.filter((pl.col("metric") == "ndcg") & (pl.col("k") == 10)).row(0, named=True)
    assert ndcg["value"] == model.metrics["ndcg@10"] and ndcg["ci_low"] == model.metrics["ndcg@10_ci_low"]
    assert ndcg["lift"] == model.metrics["lift_ndcg@10"]
    both = report_frame([model, baseline])
    assert both.get_column("report").unique().sort().to_list() == ["oracle", "popularity"]
    text = model.to_markdown()
    assert text.startswith("## oracle: test, 4 predictions, seen items kept")
    for heading in ("| metric | @1 | @3 | @10 |", "### lift over the baseline", "### paired comparison",
                    "### by history_length", "### by group", "| 2-4 | 2 | 0.5000"):
        assert heading in text


def test_plots_are_png_charts_with_every_report(reports, tmp_path):
    _, _, model, baseline = reports
    both = plot_reports([model, baseline], tmp_path / "both")
    alone = model.plot(tmp_path / "alone")
    assert [p.name for p in both] == [p.name for p in alone]
    assert {"metrics_at_k.png", "segments_history_length.png", "segments_group.png"} <= {p.name for p in both}
    for path in both + alone:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.image.imread(path).ndim == 3
    # the second report adds a curve and bars: the charts differ from the model's alone
    assert not np.array_equal(matplotlib.image.imread(both[0]), matplotlib.image.imread(alone[0]))


def test_comparison_table_has_one_row_per_report(reports):
    _, _, model, baseline = reports
    text = comparison_table([model, baseline], metrics=("ndcg", "recall"))
    lines = text.splitlines()
    assert lines[0] == "| report | ndcg@1 | recall@1 | ndcg@3 | recall@3 | ndcg@10 | recall@10 |"
    assert lines[2].startswith("| oracle | 0.7500 | 0.7500 |") and lines[3].startswith("| popularity |")


def test_context_columns_are_chosen_or_checked(reports):
    dm, popularity, _, _ = reports
    chosen = evaluate(popularity.score, dm.prepared, ks=(10,), context_columns=[], n_resamples=5)
    assert "device" not in chosen.segments
    with pytest.raises(SchemaError, match="context columns \\['shop'\\] are not in the event log"):
        evaluate(popularity.score, dm.prepared, ks=(10,), context_columns=["shop"], n_resamples=5)


def test_bad_arguments(reports):
    dm, popularity, _, _ = reports
    with pytest.raises(ValueError, match="part must be one of"):
        evaluate(popularity.score, dm.prepared, part="train")
    with pytest.raises(ValueError, match="ks must be positive"):
        evaluate(popularity.score, dm.prepared, ks=(0, 5))
    assert isinstance(evaluate(popularity.score, dm.prepared, ks=(2,), part="val", n_resamples=5), EvaluationReport)
