import numpy as np
import pytest
import torch

from xsell.data.datamodule import SequenceDataModule
from xsell.data.synthetic import synthetic_shop
from xsell.evaluation.protocol import evaluate_scorer
from xsell.models import MeanPool, SASRec, TwoTower
from xsell.retrieval import Retriever, TwoStageScorer, build_item_index


@pytest.fixture(scope="module")
def setup():
    datamodule = SequenceDataModule(synthetic_shop(3000, seed=0), max_len=10, eval_batch_size=64,
                                    item_features=["category", "brand", "price_bucket", "title_tokens"])
    datamodule.setup()
    data = datamodule.prepared
    features = torch.from_numpy(data.item_features.ids)
    torch.manual_seed(0)
    two_tower = TwoTower(data.num_items, dim=16, max_len=10, query=MeanPool, feature_ids=features,
                         feature_specs=data.item_features.specs).eval()
    for table in (two_tower.items.embedding.ids, *two_tower.items.embedding.features):
        torch.nn.init.normal_(table.weight)  # stand-in for training: the tables start at zero (tied scores)
    ranker = SASRec(data.num_items, dim=16, layers=1, heads=1, max_len=10).eval()
    retriever = Retriever(two_tower, build_item_index(two_tower, data.log.item_vocab), data.log.item_vocab,
                          max_len=10)
    return datamodule, two_tower, ranker, retriever


def test_retrieve_returns_ids_and_scores_never_padding_or_seen(setup):
    datamodule, two_tower, _, retriever = setup
    vocab = datamodule.prepared.item_vocab
    histories = [vocab.ids[:3], [vocab.ids[5]], [], ["never-seen-item", vocab.ids[7]]]
    found = retriever.retrieve(histories, k=8)
    assert found.keys.shape == (4, 8) and (found.keys >= 2).all()
    for history, ids in zip(histories, found.item_ids, strict=True):
        assert len(ids) == 8 and not set(history) & set(ids)
    assert (np.diff(found.scores, axis=1) <= 1e-6).all()
    # the scores are the model's own inner products
    batch = retriever.batch(histories)
    with torch.no_grad():
        expected = two_tower.encode_sequence(batch.items, batch.events, batch.time_gaps) @ two_tower.item_embeddings().T
    np.testing.assert_allclose(found.scores, expected.gather(1, torch.from_numpy(found.keys)).numpy(), atol=1e-5)
    kept = retriever.retrieve(histories[:1], k=vocab.num_known, exclude_seen=False)
    assert set(histories[0]) <= set(kept.item_ids[0])


def test_two_stage_with_the_whole_catalog_as_candidates_is_the_ranker(setup):
    datamodule, _, ranker, retriever = setup
    everything = TwoStageScorer(retriever, ranker, candidates=datamodule.prepared.item_vocab.num_known,
                                exclude_seen=False)
    expected = evaluate_scorer(ranker.score, datamodule.val_dataloader(), ks=(1, 10, 50), exclude_seen=False)
    assert evaluate_scorer(everything, datamodule.val_dataloader(), ks=(1, 10, 50),
                           exclude_seen=False) == pytest.approx(expected)


def test_two_stage_recall_is_bounded_by_the_candidates(setup):
    datamodule, two_tower, ranker, retriever = setup
    kept = dict(exclude_seen=False)  # seen items kept in both stages and in the evaluation
    first_stage = evaluate_scorer(two_tower.score, datamodule.val_dataloader(), ks=(20,), **kept)
    retrieved = evaluate_scorer(TwoStageScorer(retriever, None, candidates=20, **kept), datamodule.val_dataloader(),
                                ks=(20,), **kept)
    assert retrieved["recall@20"] == pytest.approx(first_stage["recall@20"])  # exact index = full scoring
    reranked = evaluate_scorer(TwoStageScorer(retriever, ranker, candidates=20, **kept),
                               datamodule.val_dataloader(), ks=(20, 50), **kept)
    assert reranked["recall@50"] == pytest.approx(first_stage["recall@20"])  # reordering keeps the same 20
    batch = next(iter(datamodule.val_dataloader()))
    scores = TwoStageScorer(retriever, ranker, candidates=20, **kept)(batch)
    assert (torch.isfinite(scores).sum(1) == 20).all()


def test_item_index_holds_eval_mode_vectors_of_known_items_only(setup):
    datamodule, two_tower, _, _ = setup
    vocab = datamodule.prepared.item_vocab
    two_tower.train()  # id dropout on: the index must still hold the deterministic eval-mode vectors
    try:
        index = build_item_index(two_tower, vocab)
        assert two_tower.training
    finally:
        two_tower.eval()
    with torch.no_grad():
        expected = two_tower.item_embeddings()[2:].numpy()
    np.testing.assert_allclose(index.index.reconstruct_n(0, len(index)), expected, atol=1e-6)
    assert index.item_ids.tolist() == vocab.ids and index.keys.tolist() == list(range(2, len(vocab)))
