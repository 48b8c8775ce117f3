import math

import numpy as np
import polars as pl
import pytest
import torch

from xsell.data.batch import SequenceBatch
from xsell.data.schema import ITEM
from xsell.evaluation.protocol import evaluate_scorer
from xsell.evaluation.ranking import MISS
from xsell.evaluation.report import target_batches
from xsell.evaluation.table import COLUMNS, mean_metrics, metric_values, rank_table, top_k_items, with_metrics

from .tiny import oracle, tiny_module


def reference(scores: np.ndarray, targets: np.ndarray, exclude: np.ndarray, k: int, exclude_seen: bool):
    """Brute force over the full score matrix: pessimistic ranks and stable-sorted top-k lists."""
    ranks, lists = [], []
    for s, t, seen in zip(scores, targets, exclude, strict=True):
        seen = {int(i) for i in seen if i != 0} if exclude_seen else set()
        eligible = [i for i in range(2, len(s)) if i not in seen]
        if t == 1 or not np.isfinite(s[t]):
            ranks.append(MISS)
        else:
            ranks.append(sum(1 for i in range(2, len(s)) if (i not in seen or i == t) and s[i] >= s[t]))
        low = {i: not s[i] > -np.inf for i in eligible}  # NaN and -inf: below every other eligible item
        order = sorted(eligible, key=lambda i: (low[i], 0.0 if low[i] else -s[i], i))
        lists.append(order[:k])
    return ranks, lists


def random_case(seed: int, batch: int = 23, num_items: int = 9, history: int = 6):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=(batch, num_items)).astype(np.float32)  # few values: many ties
    special = rng.random(scores.shape)
    scores[special < 0.05] = np.nan
    scores[(special >= 0.05) & (special < 0.1)] = -np.inf
    scores[(special >= 0.1) & (special < 0.12)] = np.inf
    targets = rng.integers(1, num_items, size=batch)
    exclude = rng.integers(0, num_items, size=(batch, history))  # padding, unknown, repeats, the target
    return scores, targets, exclude


def batches_of(scores, targets, exclude, sizes):
    """``(scorer, batches)``: the rows cut into batches of ``sizes``, and a scorer returning their scores."""
    out, start = [], 0
    for size in sizes:
        part = slice(start, start + size)
        items = torch.from_numpy(exclude[part])
        out.append((torch.from_numpy(scores[part]), SequenceBatch(
            items=items, events=items % 3, time_gaps=torch.zeros_like(items),
            users=torch.arange(start, start + size), target=torch.from_numpy(targets[part]),
            target_event=torch.full((size,), 2), exclude=items)))
        start += size
    lookup = {id(batch): scores for scores, batch in out}
    return (lambda batch: lookup[id(batch)]), [batch for _, batch in out]


@pytest.mark.parametrize("exclude_seen", [False, True])
@pytest.mark.parametrize("k", [1, 3, 20])  # 20: more than the 7 catalog items
def test_rank_table_agrees_with_brute_force(exclude_seen, k):
    for seed in range(5):
        scores, targets, exclude = random_case(seed)
        score, batches = batches_of(scores, targets, exclude, [5, 1, 10, 7])
        table = rank_table(score, batches, k=k, exclude_seen=exclude_seen)
        ranks, lists = reference(scores, targets, exclude, k, exclude_seen)
        assert table.columns == list(COLUMNS)
        assert table.get_column("rank").to_list() == ranks
        assert table.get_column("top_k").to_list() == lists
        assert table.get_column("row").to_list() == list(range(len(targets)))


def test_top_k_breaks_ties_at_the_cut_by_item_index():
    for seed in range(3):  # 60 items with 4 distinct scores: the k-th score is almost always shared
        scores, targets, exclude = random_case(seed, batch=40, num_items=60, history=10)
        for exclude_seen in (False, True):
            _, lists = reference(scores, targets, exclude, 10, exclude_seen)
            top = top_k_items(torch.from_numpy(scores).half(), 10, torch.from_numpy(exclude) if exclude_seen else None)
            assert top.tolist() == lists  # half precision: integer scores are exact, ties unchanged


def test_top_k_does_not_depend_on_the_chunk_size():
    scores, _, exclude = random_case(7, batch=40, num_items=30)
    scores = torch.from_numpy(scores)
    whole = top_k_items(scores, 10, torch.from_numpy(exclude))
    for chunk in (1, 30, 31, 300):
        assert torch.equal(top_k_items(scores, 10, torch.from_numpy(exclude), chunk_elements=chunk), whole)


def test_table_columns_from_the_batch():
    items = torch.tensor([[0, 0, 2], [3, 4, 5]])
    batch = SequenceBatch(items=items, events=torch.tensor([[0, 0, 4], [2, 2, 3]]), time_gaps=torch.zeros_like(items),
                          users=torch.tensor([7, 8]), target=torch.tensor([3, 6]), target_event=torch.tensor([2, 4]),
                          exclude=torch.tensor([[2, 0, 0, 0, 0, 0], [2, 3, 3, 4, 5, 1]]))  # full history
    scores = torch.arange(7, dtype=torch.float).expand(2, -1)  # item 6 best
    table = rank_table(lambda b: scores, [batch], k=2, rows=[[11, 10]], exclude_seen=False)
    assert table.to_dicts() == [
        {"row": 10, "user": 8, "target": 6, "rank": 1, "history_length": 6, "last_item": 5, "last_event": 3,
         "target_event": 4, "top_k": [6, 5]},
        {"row": 11, "user": 7, "target": 3, "rank": 4, "history_length": 1, "last_item": 2, "last_event": 4,
         "target_event": 2, "top_k": [6, 5]},
    ]


def test_rows_must_match_the_batches_and_be_unique():
    scores, targets, exclude = random_case(0, batch=4)
    score, batches = batches_of(scores, targets, exclude, [2, 2])
    with pytest.raises(ValueError, match="fewer entries"):
        rank_table(score, batches, rows=[[0, 1]])
    with pytest.raises(ValueError, match="more entries"):
        rank_table(score, batches, rows=[[0, 1], [2, 3], [4, 5]])
    with pytest.raises(ValueError, match="not unique"):
        rank_table(score, batches, rows=[[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="3 entries for a batch of 2"):
        rank_table(score, batches, rows=[[0, 1, 2], [3, 4]])


def test_metrics_from_the_table_equal_the_protocol():
    scores, targets, exclude = random_case(3, batch=50, num_items=40)
    score, batches = batches_of(scores, targets, exclude, [16, 16, 18])
    for exclude_seen in (False, True):
        expected = evaluate_scorer(score, batches, ks=(1, 5, 10), exclude_seen=exclude_seen)
        table = rank_table(score, batches, k=10, exclude_seen=exclude_seen)
        got = mean_metrics(table, (1, 5, 10))
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-15)
        frame = with_metrics(table, (5,), metrics=("ndcg",))
        assert frame.get_column("ndcg@5").to_list() == pytest.approx(metric_values(table, "ndcg@5").tolist())
    with pytest.raises(ValueError, match="unknown metric"):
        metric_values(table, "auc@5")


def test_rows_are_the_targets_positions_in_the_split_log():
    dm = tiny_module()
    data = dm.prepared
    batches, rows = target_batches(dm.test_set, batch_size=dm.eval_batch_size)
    table = rank_table(oracle(data.num_items), batches, k=3, rows=rows)
    assert table.height == 4
    events = data.split.events
    item_ids = events.get_column(ITEM).gather(table.get_column("row")).to_list()
    assert data.log.item_vocab.decode(table.get_column("target").to_list()) == [None, "i3", "i5", "i6"]
    assert item_ids == ["i9", "i3", "i5", "i6"]  # users a..d; a's i9 is unknown to training
    assert table.get_column("rank").to_list() == [MISS, 1, 1, 1]
    assert table.get_column("history_length").to_list() == [2, 3, 5, 11]  # the full history, not max_len
    metrics = mean_metrics(table, (1,))
    assert metrics["recall@1"] == 0.75 and math.isclose(metrics["ndcg@1"], 0.75)


def test_empty_input_gives_an_empty_table():
    table = rank_table(lambda b: b, [], k=5)
    assert table.height == 0 and table.columns == list(COLUMNS)
    assert table.schema["top_k"] == pl.List(pl.Int64)
    assert mean_metrics(table, (5,)) == {}
