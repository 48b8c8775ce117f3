import pytest
import torch
from torch import nn

from xsell.evaluation.sessions import evaluate_sessions, session_prefixes

# Items 2..5 (0 = padding, 1 = unknown). The model scores the next item from the last one alone: row j of
# TABLE holds the scores after item j. Padding and unknown columns score high and must never be ranked.
TABLE = torch.tensor([
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [9, 9, 0, 5, 1, 2],  # after 2
    [9, 9, 4, 4, 3, 1],  # after 3
    [9, 9, 0, 0, 0, 0],  # after 4
    [9, 9, 1, 3, 2, 0],  # after 5
], dtype=torch.float32)


class LastItemTable(nn.Module):
    max_len = 3

    def encode_sequence(self, items, events, time_gaps):
        assert bool(((items != 0) == (events == 1)).all())  # event types mark the real positions
        return TABLE[items[:, -1]]

    def item_embeddings(self):
        return torch.eye(6)


# Predictions and their ranks, by hand:
#   [2] -> 3: after 2, item 3 scores 5, the best: rank 1
#   [2, 3] -> 4: after 3, items 2, 3 (4) and 4 (3) score >= 3: rank 3 (2 and 3 are in the prefix, not excluded)
#   [5] -> 2: after 5, items 3 (3), 4 (2), 2 (1): rank 3
#   [3] -> 3: after 3, items 2 and 3 tie at 4: rank 2 (ties go against the target; the optimistic rank is 1)
SESSIONS = [[2, 3, 4], [5, 2], [3, 3], [4]]  # a one-event session makes no prediction


def test_ranks_by_hand_without_exclusion_and_with_pessimistic_ties():
    metrics = evaluate_sessions(LastItemTable(), SESSIONS, ks=(1, 2, 3))
    assert metrics["predictions"] == 4
    assert metrics["recall@1"] == pytest.approx(1 / 4)
    assert metrics["recall@2"] == pytest.approx(2 / 4)
    assert metrics["mrr@2"] == pytest.approx((1 + 1 / 2) / 4)
    assert metrics["recall@3"] == pytest.approx(1.0)
    assert metrics["mrr@3"] == pytest.approx((1 + 1 / 3 + 1 / 3 + 1 / 2) / 4)


@pytest.mark.parametrize("batch_size, block", [(1, 1), (3, 2), (512, 512)])
def test_batching_and_blocks_do_not_change_the_result(batch_size, block):
    expected = evaluate_sessions(LastItemTable(), SESSIONS, ks=(2,))
    assert evaluate_sessions(LastItemTable(), SESSIONS, ks=(2,), batch_size=batch_size, block=block) == expected


def test_an_unknown_target_is_a_miss():
    metrics = evaluate_sessions(LastItemTable(), [[2, 1]], ks=(4,))
    assert metrics["recall@4"] == 0.0 and metrics["predictions"] == 1


def test_prefixes_are_left_padded_and_keep_the_most_recent_items():
    prefixes, targets = session_prefixes([[2, 3, 4, 5], [6, 7]], max_len=2)
    assert prefixes.tolist() == [[0, 2], [2, 3], [3, 4], [0, 6]]
    assert targets.tolist() == [3, 4, 5, 7]


def test_no_predictions():
    prefixes, targets = session_prefixes([[2], []], max_len=3)
    assert prefixes.shape == (0, 3) and targets.shape == (0,)
    assert evaluate_sessions(LastItemTable(), [[2]]) == {"predictions": 0.0}


def test_a_held_out_users_split_evaluates_as_the_raw_sessions():
    """The data module's test targets under ``held_out_users`` are exactly the sessions' next events: a real
    (untrained) GRU4Rec scores the same through ``evaluate_scorer`` (seen items kept) and ``evaluate_sessions``."""
    import polars as pl

    from xsell.data.datamodule import SequenceDataModule
    from xsell.data.interactions import Interactions
    from xsell.data.splits import TEST
    from xsell.evaluation.protocol import evaluate_scorer
    from xsell.models import GRU4Rec

    generator = torch.Generator().manual_seed(0)
    rows = [(f"s{s:02d}", f"i{int(i)}", 100 * s + t)
            for s in range(40) for t, i in enumerate(torch.randint(0, 12, (2 + s % 5,), generator=generator))]
    events = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")
    dm = SequenceDataModule(Interactions(events, name="sessions"), split="held_out_users", held_out_fraction=0.2,
                            max_len=8, eval_batch_size=3)
    dm.setup()
    torch.manual_seed(0)
    model = GRU4Rec(dm.prepared.num_items, dim=8, max_len=8).eval()
    expected = evaluate_scorer(model.score, dm.test_dataloader(), ks=(3, 5), exclude_seen=False)
    split = dm.prepared.split
    test_users = split.test.get_column("user_id").unique().sort()
    sessions = [[dm.prepared.item_vocab.index(i) for i in split.events.filter(pl.col("user_id") == u)["item_id"]]
                for u in test_users]
    got = evaluate_sessions(model, sessions, ks=(3, 5))
    assert got["predictions"] == split.test.height > 0
    assert {k: got[k] for k in expected} == pytest.approx(expected)
    # the last 20% of sessions by first event are the test sessions
    assert test_users.to_list() == [f"s{s:02d}" for s in range(32, 40)]
    assert set(split.events.filter(pl.col("part") == TEST)["user_id"]) <= set(test_users)
