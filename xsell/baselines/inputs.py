"""What baselines learn from (training events only) and what they score from (a batch's history).

Every fitted statistic in ``xsell.baselines`` goes through the functions here, which read only the events
with ``part == TRAIN``: validation and test targets never reach a baseline's parameters. At scoring time a
baseline sees exactly what a neural model sees, the ``SequenceBatch`` (for a test target that history
includes the validation target, as it does for every model).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from xsell.data.batch import SequenceBatch
from xsell.data.schema import FIRST_INDEX
from xsell.data.sequences import EncodedLog
from xsell.data.splits import TRAIN


def user_item_matrix(log: EncodedLog) -> sp.csr_matrix:
    """``[U, N]`` binary float64 CSR: 1 where the user has the item among their training events."""
    train = log.part == TRAIN
    users, items = log.user[train], log.item[train]
    shape = (len(log.user_vocab), len(log.item_vocab))
    matrix = sp.csr_matrix((np.ones(len(items)), (users, items)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # a repeated purchase is still one basket member
    return matrix


def successor_pairs(log: EncodedLog, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered pairs of training events of the same user at most ``window`` steps apart.

    Returns ``(earlier_item, later_item, steps)``, each ``[P]``, with ``1 <= steps <= window``. A pair
    needs both events in training, so (last training event -> validation target) is never one.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    train = log.part == TRAIN
    earlier, later, steps = [], [], []
    for d in range(1, window + 1):  # a loop over offsets, not over users
        first = np.flatnonzero(train[:-d] & train[d:] & (log.user[:-d] == log.user[d:]))
        earlier.append(log.item[first])
        later.append(log.item[first + d])
        steps.append(np.full(len(first), d, dtype=np.int64))
    return np.concatenate(earlier), np.concatenate(later), np.concatenate(steps)


def top_k_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row (ties: lower column index first); vectorised."""
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    matrix.sum_duplicates()
    row = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((matrix.indices, -matrix.data, row))  # by row, then value desc, then column
    rank = np.arange(len(order)) - matrix.indptr[row[order]]
    keep = np.sort(order[rank < k])
    return sp.csr_matrix((matrix.data[keep], (row[keep], matrix.indices[keep])), shape=matrix.shape)


def history_query(batch: SequenceBatch, num_items: int, last: int | None, decay: float = 1.0) -> sp.csr_matrix:
    """``[B, N]`` CSR of history weights: the item ``r`` steps before the newest gets ``decay ** r``.

    Only the last ``last`` columns of the left-padded ``batch.items`` count (all when None); padding and
    the unknown item carry no weight; an item seen twice gets the sum of its weights.
    """
    items = batch.items.detach().cpu().numpy()
    if last is not None:
        items = items[:, -last:]
    width = items.shape[1]
    rows, cols = np.nonzero(items >= FIRST_INDEX)
    weights = decay ** (width - 1 - cols).astype(np.float64)
    query = sp.csr_matrix((weights, (rows, items[rows, cols])), shape=(items.shape[0], num_items))
    query.sum_duplicates()
    return query


def last_items(batch: SequenceBatch) -> np.ndarray:
    """``[B]`` the newest history item of each row (0 when the history is empty)."""
    return batch.items[:, -1].detach().cpu().numpy()


def popularity_tie_breaker(counts: np.ndarray, scale: float) -> np.ndarray:
    """``[N]`` ``scale * count / max count``: added to scores so that items with equal evidence (most
    often none) are ordered by training popularity instead of ranking the target pessimistically."""
    return scale * counts / max(float(counts.max(initial=0.0)), 1.0)


def to_scores(scores: np.ndarray, batch: SequenceBatch) -> Tensor:
    """``[B, N]`` float32 tensor on the batch's device."""
    return torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32)).to(batch.items.device)
