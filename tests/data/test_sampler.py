"""Length-grouped training batches and length-ordered evaluation batches, shared between processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from xsell.data.sampler import LengthGroupedBatchSampler, length_ordered_batches

LENGTHS = torch.randint(1, 50, (1000,), generator=torch.Generator().manual_seed(0))


def one_process_epochs(lengths: torch.Tensor, batch_size: int, seed: int, epochs: int) -> list[list[list[int]]]:
    """The one-process order written out on its own: one generator drawn on from epoch to epoch."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        order = torch.randperm(len(lengths), generator=generator)
        batches = []
        for start in range(0, len(order), batch_size * 32):
            group = order[start:start + batch_size * 32]
            batches.extend(group[lengths[group].argsort(descending=True, stable=True)].split(batch_size))
        out.append([batches[i].tolist() for i in torch.randperm(len(batches), generator=generator).tolist()])
    return out


def epoch(sampler: LengthGroupedBatchSampler, number: int) -> list[list[int]]:
    sampler.set_epoch(number)
    return list(sampler)


def test_one_process_draws_the_seeded_stream_epoch_after_epoch():
    sampler = LengthGroupedBatchSampler(LENGTHS, 7, seed=3)
    expected = one_process_epochs(LENGTHS, 7, 3, epochs=3)
    assert [epoch(sampler, e) for e in range(3)] == expected
    assert len(sampler) == 143 and expected[0] != expected[1]  # ceil(1000 / 7); reshuffled per epoch
    # an epoch is a function of the seed and its number: a resumed run, or a repeat, draws it again
    assert epoch(LengthGroupedBatchSampler(LENGTHS, 7, seed=3), 2) == expected[2]
    assert epoch(sampler, 1) == expected[1]


def test_a_sampler_resumed_inside_an_epoch_hands_out_the_rest_of_it():
    """The position saved after 5 batches of epoch 1: a new sampler's next pass over epoch 1 starts behind them,
    the pass after it is whole; a position in another epoch skips nothing."""
    expected = one_process_epochs(LENGTHS, 7, 3, epochs=3)
    stopped = LengthGroupedBatchSampler(LENGTHS, 7, seed=3)
    stopped.set_epoch(1)
    handed = iter(stopped)
    assert [next(handed) for _ in range(5)] == expected[1][:5]
    assert stopped.state_dict() == {"epoch": 1, "batches": 5}

    resumed = LengthGroupedBatchSampler(LENGTHS, 7, seed=3)
    resumed.load_state_dict(stopped.state_dict())
    assert epoch(resumed, 1) == expected[1][5:]
    assert resumed.state_dict() == {"epoch": 1, "batches": len(expected[1])}
    assert epoch(resumed, 2) == expected[2]
    other = LengthGroupedBatchSampler(LENGTHS, 7, seed=3)
    other.load_state_dict({"epoch": 0, "batches": 5})
    assert epoch(other, 1) == expected[1]


@pytest.mark.parametrize(("batch_size", "processes"), [(10, 2), (10, 4), (7, 2), (7, 3)])
def test_processes_share_an_epoch_disjointly(batch_size, processes):
    full = one_process_epochs(LENGTHS, batch_size, 5, epochs=2)
    for number in range(2):
        shares = [epoch(LengthGroupedBatchSampler(LENGTHS, batch_size, seed=5, num_replicas=processes, rank=r),
                        number) for r in range(processes)]
        kept = len(full[number]) // processes
        assert [len(s) for s in shares] == [kept] * processes  # data-parallel steps pair up
        # every process takes every processes-th batch of the one epoch order; the remainder is dropped
        assert sorted(b for s in shares for b in s) == sorted(full[number][:kept * processes])
        windows = [w for s in shares for b in s for w in b]
        assert len(windows) == len(set(windows))  # no window twice
        if len(full[number]) % processes == 0:
            assert sorted(windows) == list(range(len(LENGTHS)))  # every window exactly once


def test_too_few_batches_for_the_processes_is_a_clear_error():
    with pytest.raises(ValueError, match="3 training windows make 1 batches of 4.*2 processes"):
        LengthGroupedBatchSampler(torch.ones(3), 4, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match="rank must be in"):
        LengthGroupedBatchSampler(LENGTHS, 4, num_replicas=2, rank=2)


def test_evaluation_shares_partition_the_targets_in_length_order():
    assert length_ordered_batches(LENGTHS, 64) == [
        c.tolist() for c in LENGTHS.argsort(descending=True, stable=True).split(64)]
    shares = [length_ordered_batches(LENGTHS, 64, num_replicas=3, rank=r) for r in range(3)]
    targets = [t for s in shares for b in s for t in b]
    assert sorted(targets) == list(range(len(LENGTHS)))
    assert sorted(len(sum(s, [])) for s in shares) == [333, 333, 334]
    with pytest.raises(ValueError, match="2 evaluation targets cannot give each of 3 processes one"):
        length_ordered_batches(LENGTHS[:2], 64, num_replicas=3, rank=0)


def _share_in_process_group(rank: int, world_size: int, folder: str) -> None:
    """One process of a gloo group: its sampler learns rank and size from torch.distributed."""
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world_size)
    try:
        sampler = LengthGroupedBatchSampler(LENGTHS, 10, seed=1)
        shares = [None] * world_size
        dist.all_gather_object(shares, [epoch(sampler, e) for e in range(2)])
        if rank == 0:
            (Path(folder) / "shares.json").write_text(json.dumps(shares))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_train_disjoint_complete_shares(tmp_path):
    mp.spawn(_share_in_process_group, args=(2, str(tmp_path)), nprocs=2)
    shares = json.loads((tmp_path / "shares.json").read_text())
    full = one_process_epochs(LENGTHS, 10, 1, epochs=2)
    for number in range(2):
        first, second = shares[0][number], shares[1][number]
        assert first == full[number][0::2] and second == full[number][1::2]  # 100 batches: 50 each
        assert sorted(w for b in first + second for w in b) == list(range(len(LENGTHS)))
