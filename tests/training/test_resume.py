"""``xsell.train resume=<run>``: a run stopped by a signal after epoch k and resumed ends as the same run done in
one go (weights and metrics); what may and may not be resumed."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from tests.hostile import hostile_checkpoint
from xsell.errors import CheckpointError, ConfigError, OutputError
from xsell.run_folder import RUN_MARKER
from xsell.runs import RunDir, checkpoint_weights
from xsell.training.builders import CONFIG_DIR
from xsell.training.checkpoint_file import read_checkpoint
from xsell.training.fitting import train

EPOCHS = 3
# Dropout and Cloze masking on, so the random streams matter; baseline, report and export are not what is tested.
SMALL = ["data.source.n_events=2000", "model.dim=16", "model.dropout=0.2", "++trainer.limit_train_batches=3",
         "trainer.accelerator=cpu", "logger=csv", "export=false", "baseline=false", "after_fit.report=null",
         f"trainer.max_epochs={EPOCHS}", "threads=1"]


class SignalAt(pl.Callback):
    """Sends ``signum`` to this process at the end of training epoch ``epoch`` (or of its batch ``batch``), as a
    terminal or a scheduler would: Lightning's handlers then stop the fit at the next boundary."""

    def __init__(self, epoch: int, signum: int, batch: int | None = None) -> None:
        self.epoch, self.signum, self.batch = epoch, signum, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), self.signum)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch and self.batch is None:
            os.kill(os.getpid(), self.signum)


def config(*overrides: str, hydra: bool = False) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=hydra)


def resume(target: Path, *overrides: str) -> dict:
    """``python -m xsell.train resume=<target> <overrides>``, in this process."""
    return train(config(f"resume={target}", *overrides, hydra=True))


def stopped_run(folder: Path, signum: int, epoch: int, *overrides: str, batch: int | None = None) -> int:
    """A run of ``SMALL`` stopped by ``signum`` at the end of epoch ``epoch`` (or of its batch ``batch``);
    returns its exit status."""
    stop = [f"+callbacks.stop._target_={__name__}.SignalAt", f"+callbacks.stop.epoch={epoch}",
            f"+callbacks.stop.signum={int(signum)}", f"+callbacks.stop.batch={'null' if batch is None else batch}"]
    with pytest.raises(SystemExit) as exit_info:
        train(config(f"paths.output_dir={folder}", *SMALL, *overrides, *stop))
    return exit_info.value.code


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return checkpoint_weights(ckpt)


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


@pytest.fixture(scope="module")
def one_go(tmp_path_factory):
    """``one_go(*overrides)``: the folder and metrics of an uninterrupted run of ``SMALL`` (made once each)."""
    runs: dict[tuple[str, ...], tuple[Path, dict]] = {}

    def run(*overrides: str) -> tuple[Path, dict]:
        if overrides not in runs:
            folder = tmp_path_factory.mktemp("one_go")
            runs[overrides] = folder, train(config(f"paths.output_dir={folder}", *SMALL, *overrides))
        return runs[overrides]

    return run


@pytest.mark.parametrize(("signum", "model", "continue_from"), [(signal.SIGTERM, "sasrec", "interrupted"),
                                                                (signal.SIGINT, "bert4rec", "interrupted"),
                                                                (signal.SIGTERM, "sasrec", "last")])
def test_a_run_stopped_after_an_epoch_and_resumed_equals_the_run_done_in_one_go(tmp_path, one_go, signum, model,
                                                                               continue_from):
    """SIGTERM (a scheduler) or Ctrl-C after epoch 1 of 3: ``interrupted.ckpt`` is written, the process exits
    128 + signal, and ``resume=`` ends with the same weights and metrics as an uninterrupted run (dropout, and
    BERT4Rec's masks, draw from the restored random streams); from ``last.ckpt`` alone too (a harder kill)."""
    whole, metrics = one_go(f"model={model}")
    run = RunDir(tmp_path / "run")
    status = stopped_run(run.path, signum, 1, f"model={model}")
    assert status == 128 + signum
    assert run.interrupted_checkpoint.is_file() and not run.metrics_file.exists()
    stopped, last = read_checkpoint(run.interrupted_checkpoint), read_checkpoint(run.last_checkpoint)
    assert stopped["global_step"] == last["global_step"] and stopped["epoch"] == 2  # after two whole epochs
    if continue_from == "last":
        run.interrupted_checkpoint.unlink()

    resumed = resume(run.path)
    assert not run.interrupted_checkpoint.exists()  # the finished fit superseded it
    assert json.loads(run.metrics_file.read_text()) == resumed
    assert (resumed["epochs"], metrics["epochs"]) == (EPOCHS, EPOCHS)
    assert resumed["val"] == metrics["val"] and resumed["test"] == metrics["test"]
    assert_same_weights(run.last_checkpoint, RunDir(whole).last_checkpoint)
    assert_same_weights(run.best_checkpoint, RunDir(whole).best_checkpoint)
    assert json.loads((run.path / RUN_MARKER).read_text())["resumed"]  # the same run, re-entered
    before = (run.path / "csv" / f"metrics_until_step_{last['global_step']}.csv").read_text()  # the first part's log
    assert "train/loss" in before and (run.path / "csv" / "metrics.csv").is_file()


def test_a_run_resumed_from_last_ckpt_with_more_epochs_trains_on(tmp_path):
    """``trainer.max_epochs`` may change on resume: the resumed run continues to the new number of epochs."""
    run = RunDir(tmp_path / "run")
    stopped_run(run.path, signal.SIGTERM, 0)
    run.interrupted_checkpoint.unlink()  # as if killed harder: last.ckpt (end of epoch 0) is what is left
    metrics = resume(run.path, f"trainer.max_epochs={EPOCHS + 1}")
    assert metrics["epochs"] == EPOCHS + 1
    assert OmegaConf.load(run.config_file).trainer.max_epochs == EPOCHS + 1
    assert read_checkpoint(run.last_checkpoint)["epoch"] == EPOCHS


@pytest.mark.parametrize("model", ["sasrec", "bert4rec"])
def test_a_run_stopped_inside_an_epoch_and_resumed_equals_the_run_done_in_one_go(tmp_path, one_go, model):
    """Ctrl-C after batch 0 of epoch 1 (of 3 batches): the checkpoint holds that step and the sampler's position
    in the epoch, so the resumed run trains the epoch's two remaining batches and ends as the run done in one go."""
    whole, metrics = one_go("data.batch_size=16", f"model={model}")
    run = RunDir(tmp_path / "run")
    assert stopped_run(run.path, signal.SIGINT, 1, "data.batch_size=16", f"model={model}", batch=0) == 130
    stopped, last = read_checkpoint(run.interrupted_checkpoint), read_checkpoint(run.last_checkpoint)
    assert stopped["global_step"] == last["global_step"] + 1  # one batch into epoch 1
    resumed = resume(run.path)
    assert read_checkpoint(run.last_checkpoint)["global_step"] == 3 * EPOCHS
    assert (resumed["epochs"], resumed["val"], resumed["test"]) == (EPOCHS, metrics["val"], metrics["test"])
    assert_same_weights(run.last_checkpoint, RunDir(whole).last_checkpoint)


@pytest.mark.parametrize("override", ["model.dim=32", "seed=1", "data.batch_size=8", "model=gru4rec",
                                      "paths.output_dir=/elsewhere", "module.optimizer.lr=0.1"])
def test_resume_refuses_to_change_what_the_run_learns(tmp_path, override):
    run = RunDir(tmp_path / "run")
    stopped_run(run.path, signal.SIGTERM, 0)
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{key}=.* is not allowed with resume=: a resumed run keeps its own config"):
        resume(run.path, override)
    assert run.interrupted_checkpoint.is_file() and not run.metrics_file.exists()


def test_resume_needs_a_run_with_a_checkpoint(tmp_path, one_go):
    with pytest.raises(CheckpointError, match=r"no config.yaml of the training run beside resume="):
        resume(tmp_path)
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(config(f"paths.output_dir={tmp_path}", *SMALL)))
    with pytest.raises(CheckpointError, match=r"no checkpoint to resume in .*checkpoints"):
        resume(tmp_path)
    finished, _ = one_go()
    with pytest.raises(ConfigError, match=r"the run already finished .*metrics.json.*init_from="):
        resume(finished)


def test_a_moved_run_or_changed_data_are_refused(tmp_path):
    run = RunDir(tmp_path / "run")
    stopped_run(run.path, signal.SIGTERM, 0)
    moved = run.path.rename(tmp_path / "moved")
    with pytest.raises(ConfigError, match=rf"the run was written in {run.path} .* and has moved since"):
        resume(moved)
    moved.rename(run.path)
    saved = OmegaConf.load(run.config_file)
    saved.data.source.n_events = 2500  # other data than the run's vocabulary was made from
    run.config_file.write_text(OmegaConf.to_yaml(saved))
    with pytest.raises(CheckpointError, match="its data no longer give the run's item vocabulary"):
        resume(run.path)


def test_resume_outside_the_command_line_needs_its_overrides(tmp_path):
    with pytest.raises(ConfigError, match="resume= needs the overrides"):
        train(config(f"resume={tmp_path}"))


def test_a_hostile_checkpoint_in_the_run_is_refused_and_never_runs(tmp_path):
    run = RunDir(tmp_path / "run")
    stopped_run(run.path, signal.SIGTERM, 0)
    marker = tmp_path / "payload-ran"
    hostile_checkpoint(run.interrupted_checkpoint, marker)  # newest: resume picks it
    with pytest.raises(CheckpointError, match=r"refused checkpoint .*interrupted.ckpt.*never unpickles"):
        resume(run.path)
    hostile_checkpoint(run.last_checkpoint, marker, raw=True)
    with pytest.raises(CheckpointError, match=r"refused checkpoint .*last.ckpt"):
        resume(run.last_checkpoint)
    assert not marker.exists()


def test_a_fresh_run_is_still_refused_in_a_resumable_folder(tmp_path):
    run = RunDir(tmp_path / "run")
    stopped_run(run.path, signal.SIGTERM, 0)
    with pytest.raises(OutputError, match="already belongs to another run"):
        train(config(f"paths.output_dir={run.path}", *SMALL))
