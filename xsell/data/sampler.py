"""Batch samplers that cut padding and share the work between data-parallel processes.

Training: :class:`LengthGroupedBatchSampler` draws one epoch's batches (the same on every process, from the
seed and the epoch) and hands each process a disjoint, equally long share of them; :class:`ResumableDataLoader`
puts its position inside the epoch into Lightning's checkpoints, so a run stopped mid-epoch resumes with the
batches it had not trained yet. Evaluation:
:func:`length_ordered_batches` deals the targets, ordered by history length, round-robin to the processes,
so every target is ranked exactly once and the processes' metric sums add up to the one-process result.

A process's rank and the number of processes come from ``torch.distributed`` when it is initialised (one
process otherwise), unless given.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler


def process_shard(rank: int | None = None, num_replicas: int | None = None) -> tuple[int, int]:
    """``(rank, num_replicas)``: the given values, else those of the initialised process group, else ``(0, 1)``."""
    grouped = dist.is_available() and dist.is_initialized()
    if num_replicas is None:
        num_replicas = dist.get_world_size() if grouped else 1
    if rank is None:
        rank = dist.get_rank() if grouped else 0
    if not 0 <= rank < num_replicas:
        raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
    return rank, num_replicas


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Random batches of similar length, so that padding columns can be cut from each batch.

    Indices are shuffled, cut into groups of ``group_batches`` batches, sorted by length inside each
    group, batched, and the batches shuffled again: every epoch sees every window once in random order,
    while most batches carry little padding.

    With several processes each draws the same epoch and takes every ``num_replicas``-th batch of the
    shuffled order from its ``rank`` on, so the shares are disjoint. Every process gets
    ``ceil(windows / batch_size) // num_replicas`` batches (data-parallel steps must pair up); the at most
    ``num_replicas - 1`` batches left over are the last of the epoch's shuffled order and are dropped,
    a different few each epoch. No window is trained twice in an epoch.

    Epoch ``e`` draws from the seed's random stream after the draws of epochs ``0 .. e-1`` (replayed when
    epochs are skipped, as on a resumed run), so the order depends only on the seed and the epoch, and one
    process shuffles as an uninterrupted stream would. Lightning calls :meth:`set_epoch` before each
    training epoch; a loop of one's own should do the same (without it every pass repeats epoch 0).
    :meth:`state_dict` is the position in the epoch (the batches handed out so far); after
    :meth:`load_state_dict` the next pass over that epoch starts behind them.

    Args:
        lengths: ``[W]`` real length of each window.
        batch_size: windows per batch (per process).
        seed: seeds the shuffling; every process must be given the same one.
        group_batches: batches per length-sorted group (larger: less padding, less randomness).
        num_replicas / rank: the processes and this one's rank (default: from ``torch.distributed``).
    """

    def __init__(self, lengths: np.ndarray | torch.Tensor, batch_size: int, seed: int = 0, group_batches: int = 32,
                 *, num_replicas: int | None = None, rank: int | None = None) -> None:
        self.lengths = torch.as_tensor(lengths)
        self.batch_size = batch_size
        self.group = batch_size * group_batches
        self.seed = seed
        self.rank, self.num_replicas = process_shard(rank, num_replicas)
        self.epoch_batches = (len(self.lengths) + batch_size - 1) // batch_size  # every whole group splits evenly
        if self.epoch_batches < self.num_replicas:
            raise ValueError(f"{len(self.lengths)} training windows make {self.epoch_batches} batches of "
                             f"{batch_size}: too few to give each of {self.num_replicas} processes one "
                             "(lower data.batch_size or the number of processes)")
        self.epoch = 0
        self._generator = torch.Generator().manual_seed(seed)
        self._next_epoch = 0  # the epoch whose draws the generator gives next
        self.handed_out = 0  # batches of the current pass handed out so far
        self._resume_at: tuple[int, int] | None = None  # (epoch, batches) to skip on the next pass

    def __len__(self) -> int:
        return self.epoch_batches // self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for ``epoch`` on the next pass."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        generator = self._stream_at(self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator)
        batches = []
        for start in range(0, len(order), self.group):
            group = order[start:start + self.group]
            group = group[self.lengths[group].argsort(descending=True, stable=True)]
            batches.extend(group.split(self.batch_size))
        shuffled = torch.randperm(len(batches), generator=generator)[:len(self) * self.num_replicas]
        resume_at, self._resume_at = self._resume_at, None
        self.handed_out = resume_at[1] if resume_at is not None and resume_at[0] == self.epoch else 0
        for i in shuffled[self.rank::self.num_replicas].tolist()[self.handed_out:]:
            self.handed_out += 1
            yield batches[i].tolist()

    def state_dict(self) -> dict[str, int]:
        """The position in the epoch: ``{"epoch": e, "batches": handed out so far}``."""
        return {"epoch": self.epoch, "batches": self.handed_out}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Start the next pass over ``state_dict["epoch"]`` behind its first ``batches`` (other epochs: whole)."""
        self._resume_at = int(state_dict["epoch"]), int(state_dict["batches"])

    def _stream_at(self, epoch: int) -> torch.Generator:
        """The generator positioned at ``epoch``'s draws (two permutations per epoch)."""
        if self._next_epoch > epoch:
            self._generator.manual_seed(self.seed)
            self._next_epoch = 0
        while self._next_epoch < epoch:
            torch.randperm(len(self.lengths), generator=self._generator)
            torch.randperm(self.epoch_batches, generator=self._generator)
            self._next_epoch += 1
        self._next_epoch += 1
        return self._generator


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over a :class:`LengthGroupedBatchSampler` (``sampler=..., batch_size=None``) that
    Lightning treats as resumable inside an epoch (``state_dict``: the sampler's position). The data module
    restores that position itself (``SequenceDataModule.state_dict``): Lightning 2.6 builds the training
    loader before it restores its loops when ``configure_optimizers`` asks for the number of steps. Exact when
    the batches are drawn in this process (``num_workers=0``); workers fetch ahead of the batches trained."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - DataLoader's
        # Its own generator: starting a pass then draws no number from torch's global stream, which a pass
        # started on resume, inside an epoch, would otherwise draw once more than the run done in one go.
        kwargs.setdefault("generator", torch.Generator().manual_seed(0))
        super().__init__(*args, **kwargs)

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.sampler.load_state_dict(state_dict)


def length_ordered_batches(lengths: torch.Tensor, batch_size: int, *, num_replicas: int | None = None,
                           rank: int | None = None) -> list[list[int]]:
    """Fixed evaluation batches of ``rank``'s share of the targets, ordered by history length (longest first).

    Targets are dealt round-robin in length order, so the shares differ by at most one target and carry
    similar lengths; together they hold every target once. Metrics are sums: order and sharing do not
    change them. Every process needs at least one target (a data-parallel model's first step after training
    is collective).
    """
    rank, num_replicas = process_shard(rank, num_replicas)
    if len(lengths) < num_replicas:
        raise ValueError(f"{len(lengths)} evaluation targets cannot give each of {num_replicas} processes one")
    order = lengths.argsort(descending=True, stable=True)[rank::num_replicas]
    return [chunk.tolist() for chunk in order.split(batch_size)]
