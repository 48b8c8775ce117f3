"""A trained sequence-model run as a stage-1 generator: its scores are the model's, and it compiles."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from hydra import compose, initialize_config_dir

from tests.baselines.common import tiny_datamodule
from xsell.baselines import MostPopular
from xsell.errors import CheckpointError
from xsell.export.parity import check_parity
from xsell.ranking import HybridRanker
from xsell.ranking.candidates import TrainedRun, generator_of
from xsell.ranking.serving import compile_hybrid, eager_topk, parity_batches
from xsell.training.builders import CONFIG_DIR
from xsell.training.checkpoint import load_run
from xsell.training.fitting import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    overrides = [f"paths.output_dir={out}", "data.source.n_events=3000", "data.max_len=20", "trainer.max_epochs=1",
                 "model.dim=16", "logger=csv", "export=false", "trainer.accelerator=cpu",
                 "callbacks.progress_bar=null"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        train(compose("train", overrides=overrides))
    return out


def test_a_trained_run_scores_like_its_model_and_the_hybrid_compiles(run_dir):
    loaded = load_run(run_dir)
    log = loaded.datamodule.prepared.log
    run = TrainedRun(str(run_dir)).fit(log)
    generator = generator_of(run, log.training_item_counts())
    batch = next(iter(loaded.datamodule.test_dataloader()))
    torch.testing.assert_close(generator(batch.items), loaded.model.score(batch), rtol=1e-5, atol=1e-5)
    hybrid = HybridRanker([TrainedRun(str(run_dir)), MostPopular()], per_generator=10, max_len=20, epochs=2,
                          hidden=8).fit(log)
    parity = check_parity({"torchscript": compile_hybrid(hybrid)}, partial(eager_topk, hybrid),
                          parity_batches(hybrid), 10)["torchscript"]
    assert parity.ok(), parity
    with pytest.raises(ValueError, match="earlier_targets"):
        HybridRanker([TrainedRun(str(run_dir))], earlier_targets=1)


def test_a_run_of_other_data_is_refused(run_dir):
    other = tiny_datamodule({"a": ["x", "y", "z", "x"], "b": ["y", "z", "v"]}).prepared.log
    with pytest.raises(CheckpointError, match="indexes"):
        TrainedRun(str(run_dir)).fit(other)
