"""A FAISS index over item vectors, with the map from index rows to item ids saved beside it.

The index type is a FAISS index-factory string chosen by config (``Flat``: exact; ``HNSW32``: graph;
``IVF1024,Flat`` / ``IVF1024,PQ16``: inverted lists, raw or product-quantised), always with the inner-product
metric (xsell scores are inner products). Search-time knobs (``efSearch=128``, ``nprobe=32``) are a FAISS
parameter string too. Row ``r`` of the index is item ``item_ids[r]`` with vocabulary index ``keys[r]``
(``-1``: an item outside the vocabulary, e.g. one added from its features only); padding and the unknown item
are never indexed, so they are never returned.

On disk an index is a folder: ``index.faiss`` (``faiss.write_index``) and ``items.json`` (factory string,
search parameters, dimension, item ids and keys), each written to a temp file and renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from xsell.atomic import write_json_atomic
from xsell.errors import FormatError

INDEX_FILE = "index.faiss"
ITEMS_FILE = "items.json"
FORMAT_VERSION = 1


@dataclass
class SearchResult:
    """Top-``k`` items per query, best first.

    Attributes:
        rows: ``[B, k]`` index rows (-1 where fewer than ``k`` items were found).
        keys: ``[B, k]`` vocabulary indices of the items (-1 where none, or for items outside the vocabulary).
        scores: ``[B, k]`` inner products (``-inf`` where none).
        item_ids: per query, the ids of the items found (shorter than ``k`` when fewer were found).
    """

    rows: np.ndarray
    keys: np.ndarray
    scores: np.ndarray
    item_ids: list[list[str]]


class ItemIndex:
    """Item vectors in a FAISS index, searchable by inner product.

    Args:
        index: a FAISS index (inner-product metric) holding ``len(item_ids)`` vectors.
        item_ids: the item id of every row. keys: the vocabulary index of every row (default: ``-1``).
        factory: the factory string the index was built from. search_params: FAISS parameter string
            applied to the index (``"efSearch=128"``, ``"nprobe=32"``; empty: FAISS defaults).

    Example::

        index = ItemIndex.build(vectors, ids, factory="HNSW32", search_params="efSearch=128")
        found = index.search(queries, k=10)      # found.item_ids, found.scores
        index.save("outputs/index"); ItemIndex.load("outputs/index")
    """

    def __init__(self, index: faiss.Index, item_ids: Sequence[str], keys: np.ndarray | None = None, *,
                 factory: str = "Flat", search_params: str = "") -> None:
        if index.ntotal != len(item_ids):
            raise ValueError(f"the index holds {index.ntotal} vectors but {len(item_ids)} item ids were given")
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError("xsell indexes use the inner-product metric")
        self.index = index
        self.item_ids = np.asarray([str(i) for i in item_ids], dtype=object)
        self.keys = np.full(len(item_ids), -1, dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
        if self.keys.shape != (len(item_ids),):
            raise ValueError(f"keys must have one entry per item id, got shape {self.keys.shape}")
        self.factory = factory
        self.search_params = ""
        self.set_search_params(search_params)

    # -- building ------------------------------------------------------------------------------------
    @classmethod
    def build(cls, vectors: np.ndarray, item_ids: Sequence[str], keys: np.ndarray | None = None, *,
              factory: str = "Flat", search_params: str = "", max_training_points: int = 256 * 1024,
              seed: int = 0) -> ItemIndex:
        """Index ``vectors`` ``[n, D]``; indexes that need training (IVF, PQ) train on at most
        ``max_training_points`` of them, drawn with ``seed``."""
        vectors = _float32(vectors)
        if len(vectors) != len(item_ids):
            raise ValueError(f"{len(vectors)} vectors but {len(item_ids)} item ids")
        try:
            index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ValueError(f"bad FAISS index factory string {factory!r}: {exc}") from exc
        ivf = faiss.try_extract_index_ivf(index)
        ivf = faiss.downcast_index(ivf) if ivf is not None else None
        if isinstance(ivf, faiss.IndexIVFPQ):  # polysemous codes only serve Hamming filtering: skip their training
            ivf.do_polysemous_training = False
        if not index.is_trained:
            sample = vectors
            if len(vectors) > max_training_points:
                rows = np.random.default_rng(seed).choice(len(vectors), max_training_points, replace=False)
                sample = vectors[np.sort(rows)]
            index.train(sample)
        index.add(vectors)
        return cls(index, item_ids, keys, factory=factory, search_params=search_params)

    def add(self, vectors: np.ndarray, item_ids: Sequence[str], keys: np.ndarray | None = None) -> None:
        """Append items (e.g. new items embedded from their features); keys default to -1."""
        vectors = _float32(vectors)
        if len(vectors) != len(item_ids):
            raise ValueError(f"{len(vectors)} vectors but {len(item_ids)} item ids")
        self.index.add(vectors)
        self.item_ids = np.concatenate([self.item_ids, np.asarray([str(i) for i in item_ids], dtype=object)])
        new_keys = np.full(len(item_ids), -1, dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
        self.keys = np.concatenate([self.keys, new_keys])

    def set_search_params(self, search_params: str) -> None:
        """Apply a FAISS parameter string (``"nprobe=32"``, ``"efSearch=128"``) to the index."""
        if search_params:
            try:
                faiss.ParameterSpace().set_index_parameters(self.index, search_params)
            except RuntimeError as exc:
                raise ValueError(f"cannot apply {search_params!r} to a {self.factory!r} index: {exc}") from exc
        self.search_params = search_params

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def memory_bytes(self) -> int:
        """Size of the serialised index (vectors, codes, graph or lists), a proxy for its memory."""
        return int(faiss.serialize_index(self.index).nbytes)

    # -- search --------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None) -> SearchResult:
        """Top-``k`` items for each query ``[B, D]``, skipping ``exclude`` ``[B, M]`` vocabulary indices
        (0 pads; e.g. each user's history)."""
        queries = _float32(queries)
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries have {queries.shape[1]} dimensions, the index {self.dim}")
        extra = 0 if exclude is None else exclude.shape[1]
        fetch = min(k + extra, len(self))
        scores, rows = self.index.search(queries, fetch) if fetch > 0 else (
            np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64))
        keys = np.where(rows >= 0, self.keys[rows.clip(min=0)], -1)  # [B, fetch]
        valid = rows >= 0
        if exclude is not None and extra:
            excluded = (keys[:, :, None] == exclude[:, None, :]) & (exclude[:, None, :] > 0)  # [B, fetch, M]
            valid &= ~excluded.any(-1)
        # keep the first k valid hits of each row, in score order
        order = np.argsort(~valid, axis=1, kind="stable")[:, :k]  # [B, k']
        rows, keys, scores, valid = (np.take_along_axis(a, order, 1) for a in (rows, keys, scores, valid))
        rows, keys = np.where(valid, rows, -1), np.where(valid, keys, -1)
        scores = np.where(valid, scores, -np.inf).astype(np.float32)
        if rows.shape[1] < k:  # a catalog smaller than k
            pad = k - rows.shape[1]
            rows, keys = (np.pad(a, ((0, 0), (0, pad)), constant_values=-1) for a in (rows, keys))
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        ids = [self.item_ids[r[r >= 0]].tolist() for r in rows]
        return SearchResult(rows=rows, keys=keys, scores=scores, item_ids=ids)

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write ``index.faiss`` and ``items.json`` into ``folder`` (each atomically)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{INDEX_FILE}.", suffix=".tmp")
        os.close(fd)
        try:
            faiss.write_index(self.index, tmp)
            os.replace(tmp, folder / INDEX_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        write_json_atomic(folder / ITEMS_FILE, {
            "format_version": FORMAT_VERSION, "factory": self.factory, "search_params": self.search_params,
            "metric": "inner_product", "dim": self.dim, "count": len(self),
            "item_ids": self.item_ids.tolist(), "keys": self.keys.tolist(),
        }, indent=None)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ItemIndex:
        """Read an index written by :meth:`save`; a missing or inconsistent pair raises ``FormatError``."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / ITEMS_FILE).read_text())
            index = faiss.read_index(str(folder / INDEX_FILE))
            item_ids, keys = meta["item_ids"], np.asarray(meta["keys"], dtype=np.int64)
            factory, search_params = meta["factory"], meta["search_params"]
        except (OSError, RuntimeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise FormatError(f"not a readable xsell item index ({exc})", source=str(folder)) from exc
        if index.ntotal != len(item_ids) or index.d != meta.get("dim"):
            raise FormatError(f"{INDEX_FILE} holds {index.ntotal} vectors of {index.d} dimensions but "
                              f"{ITEMS_FILE} lists {len(item_ids)} items of {meta.get('dim')}", source=str(folder))
        return cls(index, item_ids, keys, factory=factory, search_params=search_params)


def _float32(vectors: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2:
        raise ValueError(f"expected a [n, D] array of vectors, got shape {array.shape}")
    return array
