import numpy as np
import polars as pl
import pytest
import torch

from xsell.baselines import MostPopular
from xsell.data.batch import SequenceBatch
from xsell.data.datamodule import SequenceDataModule
from xsell.data.interactions import Interactions
from xsell.evaluation.protocol import evaluate_scorer

# Leave-one-out: a trains on x y x z (validation x, test w); b trains on y (validation y, test q);
# c has two events, both training. Training counts: x 3, y 2, z 2; q and w never occur in training.
EVENTS = pl.DataFrame({
    "user_id": ["a"] * 6 + ["b"] * 3 + ["c"] * 2,
    "item_id": ["x", "y", "x", "z", "x", "w", "y", "y", "q", "x", "z"],
    "timestamp": [1, 2, 3, 4, 5, 6, 1, 2, 3, 1, 2],
})


@pytest.fixture(scope="module")
def datamodule() -> SequenceDataModule:
    dm = SequenceDataModule(Interactions(EVENTS, name="tiny"), max_len=4, eval_batch_size=1)
    dm.setup()
    return dm


def test_counts_training_events_per_item(datamodule):
    popular = MostPopular().fit(datamodule.prepared.log)
    vocab = datamodule.prepared.log.item_vocab
    counts = {vocab.decode([i])[0]: c for i, c in enumerate(popular.counts.tolist()) if i >= 2}
    assert counts == {"x": 3.0, "y": 2.0, "z": 2.0}
    assert popular.counts[:2].tolist() == [0.0, 0.0]
    assert torch.equal(popular.counts, datamodule.prepared.item_counts())


def test_scores_are_the_same_for_every_user(datamodule):
    popular = MostPopular().fit(datamodule.prepared.log)
    scores = popular.score(SequenceBatch(items=torch.zeros(3, 2, dtype=torch.long),
                                         events=torch.zeros(3, 2, dtype=torch.long),
                                         time_gaps=torch.zeros(3, 2, dtype=torch.long)))
    assert scores.shape == (3, len(datamodule.prepared.log.item_vocab))
    assert (scores == popular.counts).all()


def test_evaluated_through_the_shared_protocol(datamodule):
    popular = MostPopular().fit(datamodule.prepared.log)
    # Validation targets: a -> x (most popular, rank 1), b -> y (below x, tied with z: pessimistic rank 3).
    val = evaluate_scorer(popular.score, datamodule.val_dataloader(), ks=(1, 2, 3))
    assert val["recall@1"] == val["recall@2"] == pytest.approx(0.5) and val["recall@3"] == pytest.approx(1.0)
    assert val["mrr@3"] == pytest.approx((1 + 1 / 3) / 2)
    # Test targets w and q never occurred in training: unknown, a miss even at the last rank of the catalog.
    assert [int(b.target) for b in datamodule.test_dataloader()] == [1, 1]
    test = evaluate_scorer(popular.score, datamodule.test_dataloader(), ks=(3,))
    assert test["recall@3"] == 0.0


def test_score_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="fit"):
        MostPopular().score(SequenceBatch(items=torch.zeros(1, 1, dtype=torch.long),
                                          events=torch.zeros(1, 1, dtype=torch.long),
                                          time_gaps=torch.zeros(1, 1, dtype=torch.long)))


def test_recent_window_counts_the_latest_training_events(datamodule):
    # Training events (time): a x1 y2 x3 z4, b y1, c x1 z2. 30% of 7 -> the 3 latest, ties at time 2 kept:
    # a y2 x3 z4, c z2 -> z 2, x 1, y 1; all-time counts x 3, y 2 order the tie x before y.
    timestamps = datamodule.prepared.split.events["timestamp"].to_numpy()
    popular = MostPopular(recent_fraction=0.3).fit(datamodule.prepared.log, timestamps=timestamps)
    vocab = datamodule.prepared.log.item_vocab
    counts = {vocab.decode([i])[0]: c for i, c in enumerate(popular.counts.tolist()) if c}
    assert counts == {"z": 2.0, "x": 1.0, "y": 1.0}
    ranking = popular.scores.argsort(descending=True)[:3].tolist()
    assert vocab.decode(ranking) == ["z", "x", "y"]


def test_recent_window_needs_aligned_timestamps(datamodule):
    with pytest.raises(ValueError, match="timestamps"):
        MostPopular(recent_fraction=0.5).fit(datamodule.prepared.log)
    with pytest.raises(ValueError, match="shape"):
        MostPopular(recent_fraction=0.5).fit(datamodule.prepared.log, timestamps=np.arange(3))
    with pytest.raises(ValueError, match="recent_fraction"):
        MostPopular(recent_fraction=0.0)
