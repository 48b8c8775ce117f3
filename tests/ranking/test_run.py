"""``python -m xsell.rank``: fit, evaluate on test beside the baselines, and write a verified bundle."""

from __future__ import annotations

import json

import torch
from hydra import compose, initialize_config_dir

from xsell.ranking.run import rank_run
from xsell.ranking.serving import load_hybrid_bundle
from xsell.training.builders import CONFIG_DIR


def test_rank_run_reports_test_beside_the_baselines_and_exports(tmp_path):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("rank", overrides=[f"paths.output_dir={tmp_path}", "data.source.n_events=4000",
                                         "data.max_len=20", "baselines.max_len=20", "baselines.epochs=2",
                                         "baselines.per_generator=10", "compare=[pop]"])
    metrics = rank_run(cfg)
    assert set(metrics) >= {"test", "compare", "ranker", "bundle"} and "val" not in metrics
    assert metrics["seen_items"] == "seen items excluded"
    assert 0.0 < metrics["test"]["ndcg@10"] <= 1.0 and "lift_ndcg@10" in metrics["test"]
    assert set(metrics["compare"]) == {"MostPopular"}
    assert json.loads((tmp_path / "metrics.json").read_text())["test"] == metrics["test"]
    scorer, items, manifest = load_hybrid_bundle(tmp_path / "bundle")
    assert manifest["parity"]["index_mismatches"] == 0
    indices, _ = scorer(torch.tensor([[0, 2, 3]]), 5)
    assert indices.shape == (1, 5) and len(items) == manifest["num_items"]


def test_help_says_what_it_does_with_three_examples():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        help_cfg = compose("rank", return_hydra_config=True).hydra.help
    assert help_cfg.header.startswith("python -m xsell.rank: fit the hybrid two-stage model")
    examples = help_cfg.template.split("Examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(examples) == 3 and all(e.strip().startswith("python -m xsell.rank") for e in examples)
