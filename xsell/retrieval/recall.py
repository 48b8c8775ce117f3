"""Ground truth by brute force, and the recall of an approximate search against it: pure functions on
arrays (as FAISS's own ``contrib`` evaluates ANN indexes)."""

from __future__ import annotations

import numpy as np
import torch


def exact_search(queries: np.ndarray, vectors: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by inner product, ``block`` queries at a time: ``(scores [B, k], rows [B, k])``."""
    items = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))  # [N, D]
    k = min(k, len(items))
    scores, rows = [], []
    for start in range(0, len(queries), block):
        chunk = torch.from_numpy(np.ascontiguousarray(queries[start:start + block], dtype=np.float32))  # [b, D]
        top = (chunk @ items.T).topk(k, dim=1)  # [b, k]
        scores.append(top.values.numpy())
        rows.append(top.indices.numpy())
    return np.concatenate(scores), np.concatenate(rows).astype(np.int64)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true top-``k`` rows (``truth`` ``[B, k]``) that ``found`` ``[B, k']``
    contains (-1 entries never match)."""
    hits = (found[:, :, None] == truth[:, None, :]) & (truth[:, None, :] >= 0)  # [B, k', k]
    return float(hits.any(1).sum(1).mean() / truth.shape[1])
