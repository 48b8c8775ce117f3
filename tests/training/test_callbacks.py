import pytest
import torch

from xsell.data.batch import SequenceBatch
from xsell.training import callbacks
from xsell.training.callbacks import RunStatistics, peak_memory_mb


def test_training_seconds_exclude_validation(monkeypatch):
    clock = iter([0.0, 5.0, 8.0, 10.0, 20.0, 24.0])  # epoch 1: 0..10 with validation 5..8; epoch 2: 20..24
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    stats = RunStatistics()
    batch = SequenceBatch(items=torch.zeros(7, 3, dtype=torch.long), events=torch.zeros(7, 3, dtype=torch.long),
                          time_gaps=torch.zeros(7, 3, dtype=torch.long))
    stats.on_train_epoch_start(None, None)
    stats.on_train_batch_end(None, None, None, batch, 0)
    stats.on_validation_start(None, None)
    stats.on_validation_end(None, None)
    stats.on_train_epoch_end(None, None)
    stats.on_train_epoch_start(None, None)
    stats.on_train_batch_end(None, None, None, batch, 0)
    stats.on_train_epoch_end(None, None)
    summary = stats.summary()
    assert summary["epochs"] == 2
    assert summary["train_seconds"] == pytest.approx(7.0 + 4.0)
    assert summary["train_sequences_per_second"] == pytest.approx(14 / 11)
    assert summary["peak_memory_mb"] > 0


def test_no_training_reports_zero_throughput():
    assert RunStatistics().summary()["train_sequences_per_second"] == 0.0
    assert peak_memory_mb() > 10  # a Python process with torch loaded
