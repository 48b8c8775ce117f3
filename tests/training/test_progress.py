"""One plain line per epoch and per evaluation when output is not a terminal."""

from __future__ import annotations

import io
import re

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import RichProgressBar
from torch.utils.data import DataLoader, TensorDataset

from xsell.training.progress import EpochLines, progress_bar
from xsell.training.quiet import silence_lightning_noise


class CountingModule(pl.LightningModule):
    """Logs train/loss = 1 / (epoch + 1) on every step and val/ndcg@10 = epoch / 10, test/ndcg@10 = 0.5."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):  # noqa: ANN001
        self.log("train/loss", 1.0 / (self.current_epoch + 1))
        return (self.weight * 0).sum() + batch[0].sum() * 0

    def validation_step(self, batch, batch_idx):  # noqa: ANN001
        self.log("val/ndcg@10", self.current_epoch / 10)

    def test_step(self, batch, batch_idx):  # noqa: ANN001
        self.log("test/ndcg@10", 0.5)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader() -> DataLoader:
    return DataLoader(TensorDataset(torch.zeros(4, 1)), batch_size=2)


def test_epoch_lines_one_per_epoch_and_evaluation():
    silence_lightning_noise()  # what NextItemModule.setup does; this plain module has no such hook
    stream = io.StringIO()
    lines = EpochLines("val/ndcg@10", stream=stream)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=3, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1, callbacks=[lines])
    module = CountingModule()
    trainer.fit(module, train_dataloaders=loader(), val_dataloaders=loader())
    trainer.test(module, dataloaders=loader(), verbose=False)
    printed = stream.getvalue().splitlines()
    assert len(printed) == 4
    for epoch, line in enumerate(printed[:3]):
        assert re.fullmatch(rf"epoch {epoch + 1}/3  train/loss {1 / (epoch + 1):.4f}  val/ndcg@10 {epoch / 10:.4f}"
                            r"  \d+\.\d s", line), line
    assert printed[3] == "test: test/ndcg@10 0.5000"
    assert trainer.progress_bar_callback is lines  # Lightning added no bar of its own


def test_progress_bar_follows_the_terminal():
    assert isinstance(progress_bar(interactive=True), RichProgressBar)
    quiet = progress_bar("val/sampled_ndcg@10", interactive=False)
    assert isinstance(quiet, EpochLines) and quiet.metric == "val/sampled_ndcg@10"
