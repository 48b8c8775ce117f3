import json

import numpy as np
import pytest
import torch

from xsell.errors import FormatError
from xsell.retrieval import ItemIndex, exact_search, recall_at_k


def clustered(n: int, dim: int = 16, clusters: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return (centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


VECTORS = clustered(600)
QUERIES = clustered(20, seed=1)
IDS = [f"item{i}" for i in range(len(VECTORS))]
KEYS = np.arange(2, len(VECTORS) + 2)


def test_exact_index_agrees_with_brute_force_torch_scoring():
    index = ItemIndex.build(VECTORS, IDS, KEYS, factory="Flat")
    found = index.search(QUERIES, k=10)
    top = (torch.from_numpy(QUERIES) @ torch.from_numpy(VECTORS).T).topk(10, dim=1)  # [B, 10]
    np.testing.assert_array_equal(found.rows, top.indices.numpy())
    np.testing.assert_allclose(found.scores, top.values.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(found.keys, top.indices.numpy() + 2)
    assert found.item_ids[0] == [f"item{r}" for r in top.indices[0].tolist()]
    _, rows = exact_search(QUERIES, VECTORS, k=10, block=7)  # blocks give the same answer
    np.testing.assert_array_equal(rows, top.indices.numpy())


@pytest.mark.parametrize(("factory", "params"), [("Flat", ""), ("HNSW16", "efSearch=32"), ("IVF8,Flat", "nprobe=3"),
                                                 ("IVF8,PQ4x4", "nprobe=8")])
def test_index_round_trip_gives_the_same_results(tmp_path, factory, params):
    index = ItemIndex.build(VECTORS, IDS, KEYS, factory=factory, search_params=params)
    before = index.search(QUERIES, k=10)
    index.save(tmp_path / "index")
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["index.faiss", "items.json"]
    loaded = ItemIndex.load(tmp_path / "index")
    after = loaded.search(QUERIES, k=10)
    assert (loaded.factory, loaded.search_params, len(loaded), loaded.dim) == (factory, params, 600, 16)
    np.testing.assert_array_equal(after.rows, before.rows)
    np.testing.assert_array_equal(after.keys, before.keys)
    np.testing.assert_array_equal(after.scores, before.scores)
    assert after.item_ids == before.item_ids


def test_approximate_indexes_have_high_recall_on_clustered_vectors():
    _, truth = exact_search(QUERIES, VECTORS, k=10)
    for factory, params in (("HNSW16", "efSearch=64"), ("IVF8,Flat", "nprobe=4")):
        found = ItemIndex.build(VECTORS, IDS, factory=factory, search_params=params).search(QUERIES, k=10)
        assert recall_at_k(found.rows, truth) >= 0.9, factory


def test_recall_at_k_by_hand():
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 9, 1, -1], [8, 7, 6, 5]])  # 2 of 4, then 4 of 4
    assert recall_at_k(found, truth) == pytest.approx(0.75)
    assert recall_at_k(np.full((2, 4), -1), truth) == 0.0


def test_exclusion_skips_seen_items_and_still_returns_k():
    index = ItemIndex.build(VECTORS, IDS, KEYS)
    plain = index.search(QUERIES[:2], k=5)
    seen = np.array([[plain.keys[0, 0], plain.keys[0, 2], 0], [0, 0, 0]])  # row 1 excludes nothing
    found = index.search(QUERIES[:2], k=5, exclude=seen)
    assert not np.isin(found.keys[0], seen[0]).any() and (found.keys[0] >= 2).all()
    np.testing.assert_array_equal(found.keys[0, :3], plain.keys[0, [1, 3, 4]])
    np.testing.assert_array_equal(found.keys[1], plain.keys[1])
    assert (np.diff(found.scores, axis=1) <= 0).all()


def test_fewer_items_than_k_pad_with_minus_one():
    index = ItemIndex.build(VECTORS[:3], IDS[:3], KEYS[:3])
    found = index.search(QUERIES[:1], k=5, exclude=np.array([[KEYS[0]]]))
    assert (found.rows[0, 2:] == -1).all() and np.isneginf(found.scores[0, 2:]).all()
    assert len(found.item_ids[0]) == 2 and "item0" not in found.item_ids[0]


def test_added_items_are_searchable():
    index = ItemIndex.build(VECTORS[:100], IDS[:100], KEYS[:100], factory="Flat")
    index.add(QUERIES[:1] * 10, ["new"])
    found = index.search(QUERIES[:1], k=1)
    assert found.item_ids == [["new"]] and found.keys[0, 0] == -1


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="factory string"):
        ItemIndex.build(VECTORS, IDS, factory="NotAnIndex")
    with pytest.raises(ValueError, match="item ids"):
        ItemIndex.build(VECTORS, IDS[:5])
    with pytest.raises(FormatError, match="not a readable xsell item index"):
        ItemIndex.load(tmp_path / "missing")
    folder = ItemIndex.build(VECTORS, IDS).save(tmp_path / "index")
    meta = json.loads((folder / "items.json").read_text())
    meta["item_ids"] = meta["item_ids"][:-1]
    (folder / "items.json").write_text(json.dumps(meta))
    with pytest.raises(FormatError, match="lists 599 items"):
        ItemIndex.load(folder)
