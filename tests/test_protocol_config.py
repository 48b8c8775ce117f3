"""One config key, ``exclude_seen`` (configs/protocol.yaml), sets the seen-items protocol of training,
evaluation, retraining and the baselines; its default excludes seen items, as the exported scorer does."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from xsell.baselines import MostPopular
from xsell.evaluation.protocol import evaluate_scorer
from xsell.evaluation.run import evaluate_run as run

CONFIG_DIR = Path(__file__).resolve().parents[1] / "xsell" / "configs"
DATA = ["data.source.n_events=3000", "data.max_len=20"]


def config(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def test_seen_items_are_excluded_by_default_and_one_key_switches_every_consumer():
    for name in ("train", "eval", "retrain"):
        assert config(name).exclude_seen is True, name
    assert config("train").module.exclude_seen is True
    assert config("retrain").module.exclude_seen is True
    assert config("train", "exclude_seen=false").module.exclude_seen is False
    assert config("retrain", "exclude_seen=false").module.exclude_seen is False


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_evaluate_scores_the_model_and_its_baselines_under_the_setting(tmp_path, exclude_seen):
    metrics = run(config("eval", f"paths.output_dir={tmp_path}", "data=synthetic", *DATA, "baselines=markov", "compare=[pop]",
                         "parts=[test]", f"exclude_seen={exclude_seen}"))
    label = "seen items excluded" if exclude_seen else "seen items kept"
    assert metrics["seen_items"] == label
    report = (tmp_path / "report.md").read_text()
    assert report.count(label) == 2  # the model's table and the comparison with the baselines
    dm = instantiate(config("eval", "data=synthetic", *DATA).data)
    dm.setup()
    expected = evaluate_scorer(MostPopular().fit(dm.prepared.log).score, dm.test_dataloader(), ks=(5, 10, 20),
                               exclude_seen=exclude_seen)
    other = evaluate_scorer(MostPopular().fit(dm.prepared.log).score, dm.test_dataloader(), ks=(5, 10, 20),
                            exclude_seen=not exclude_seen)
    popularity = metrics["compare"]["MostPopular"]["test"]
    assert popularity["ndcg@10"] == pytest.approx(expected["ndcg@10"], abs=1e-12)
    assert popularity["ndcg@10"] != pytest.approx(other["ndcg@10"], abs=1e-6)
