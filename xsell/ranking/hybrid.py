"""The hybrid two-stage model: collaborative and rule candidates, re-ranked by a learned ranker.

Stage 1 (:mod:`xsell.ranking.candidates`): ItemKNN, association rules and popularity, fitted on the training
part only, each propose their ``per_generator`` best items; the union is a request's candidates. Stage 2
(:mod:`xsell.ranking.ranker`): an MLP over each candidate's generator scores and ranks, its popularity, the
history length and item features scores the candidates; every other item scores ``-inf``, so the full-ranking
evaluation stays honest (a target stage 1 missed is a miss).

Where the ranker learns: the *validation* targets. For each validation request the histories are those the
evaluation uses (every event before the target), the candidates come from the stage-1 models fitted on
training, and the label is the validation target. Test targets are never read by :meth:`HybridRanker.fit`;
at test time the same fitted models score histories that end with the validation item, as for every model.
Validation metrics of a hybrid so fitted are in-sample: compare hybrids on test only, or tune the ranker's
settings on its held-out share of the validation requests (``holdout``, reported by :meth:`fit`). With
``earlier_targets=k`` the ranker also learns from each user's last ``k`` training events (stage 1 refitted
without them); ``holdout=1`` then keeps every validation target out of the ranker's training.

Example::

    data = prepare(read_atomic("ml-100k"), max_len=50)
    hybrid = HybridRanker([ItemKNN(k=300, shrink=10, window=10, history=50, decay=0.8),
                           AssociationRules(min_support=0.01), MostPopular()]).fit(data.log)
    evaluate(hybrid.score, data)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn

from xsell.data.batch import SequenceBatch
from xsell.data.features import FeatureTable
from xsell.data.schema import FIRST_INDEX, PAD_INDEX, UNKNOWN_INDEX
from xsell.data.sequences import EncodedLog, pack_targets, seen_items
from xsell.data.splits import HELD_OUT, TEST, TRAIN, VALIDATION, LeakageError
from xsell.ranking.candidates import TIE_BREAK, TrainedRun, generator_of, retrieve
from xsell.ranking.features import numeric_features
from xsell.ranking.ranker import RankerMLP, RankerRows, fit_ranker

ROWS_AT_ONCE = 256  # validation requests turned into candidate features at once


class HybridScorer(nn.Module):
    """The whole hybrid as one module: ``[B, L]`` histories and ``[B, N]`` hidden items in, ``[B, N]`` scores
    out (ranker scores for candidates, ``-inf`` elsewhere). Scriptable with ``torch.jit.script``.

    Args:
        generators: stage-1 modules, each ``[B, L] -> [B, N]``. ranker: the stage-2 :class:`RankerMLP`.
        item_counts: ``[N]`` training events per item. per_generator: items each generator proposes.
    """

    def __init__(self, generators: Sequence[nn.Module], ranker: RankerMLP, item_counts: Tensor,
                 per_generator: int) -> None:
        super().__init__()
        self.generators = nn.ModuleList(generators)
        self.ranker = ranker
        counts = item_counts.to(torch.float32).clone()
        counts[:FIRST_INDEX] = 0.0
        self.register_buffer("tie_break", TIE_BREAK * counts / counts.sum().clamp(min=1.0))  # [N]
        self.register_buffer("log_popularity", torch.log1p(counts))  # [N]
        self.per_generator = int(per_generator)
        self.num_items = int(len(counts))
        self.first_index: int = FIRST_INDEX
        self.unknown_index: int = UNKNOWN_INDEX

    @property
    def width(self) -> int:
        """Numeric features per candidate."""
        return 3 * len(self.generators) + 3

    def candidates(self, items: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(items [B, C], valid [B, C], features [B, C, W], last_item [B])`` of histories ``[B, L]``."""
        items = torch.where((items >= 0) & (items < self.num_items), items, self.unknown_index)
        hidden = hidden.clone()
        hidden[:, :self.first_index] = True  # padding and the unknown item are never candidates
        scores = [generator(items) for generator in self.generators]
        candidates, valid, values, ranks = retrieve(scores, hidden, self.tie_break, self.per_generator)
        features = numeric_features(values, ranks, candidates, self.per_generator, self.log_popularity, items,
                                    self.first_index)
        return candidates, valid, features, items[:, -1]

    def forward(self, items: Tensor, hidden: Tensor,
                context: Optional[Tensor] = None) -> Tensor:  # noqa: UP045 - TorchScript reads Optional[...]
        """``[B, N]`` scores; ``context`` ``[B, K]``: the request's context ids when the ranker reads them."""
        candidates, valid, features, last = self.candidates(items, hidden)
        ranked = self.ranker(features, candidates, last, context).masked_fill(~valid, float("-inf"))  # [B, C]
        scores = torch.full((items.shape[0], self.num_items), float("-inf"), device=items.device)
        return scores.scatter_reduce(1, candidates, ranked, "amax")  # a repeated candidate: its valid slot


class HybridRanker:
    """The hybrid with the baselines' contract: ``fit(log) -> self``, ``score(batch) -> [B, N]``.

    Args:
        generators: unfitted stage-1 baselines (:class:`~xsell.baselines.ItemKNN`,
            :class:`~xsell.baselines.AssociationRules`, :class:`~xsell.baselines.MostPopular`), fitted on
            the training part by :meth:`fit`.
        per_generator: items each generator proposes (candidates per request: at most ``G * per_generator``).
        hidden / epochs / lr / batch_size: the ranker MLP and its training (:func:`fit_ranker`).
        holdout: share of the validation requests that only choose the ranker's epoch (and compare settings:
            ``fit_report["holdout_mrr"]``). 1.0 with ``earlier_targets >= 1``: the ranker trains on earlier
            training events only and every validation target is held out, so the hybrid's validation metrics
            are out-of-sample and it can be tuned on validation like any model.
        max_len: history length of the ranker's training requests (as the data module's ``max_len``).
        max_neighbours: table width kept per antecedent of rule generators (None: all rules).
        history_candidates: let history items be candidates. False (default): they never are, as serving
            never recommends them, so every candidate slot holds a new item. True: they compete, with how
            often they occur in the history as a feature; worth it where the next event often repeats an
            item (a purchase after its view: the evaluation keeps a target that is in the history rankable).
        exclude_seen: the evaluation protocol (``configs/protocol.yaml``). True: history items other than the
            target are never ranked, so they are no negatives for the ranker either. False (seen items kept):
            they are ranked, so with ``history_candidates`` the ranker learns to score them against the target.
        earlier_targets: more ranker training requests from each user's last ``earlier_targets`` training
            events: for the ``j``-th from last, stage 1 is refitted without it and the events after it (a copy
            of every generator), and that event is the target. 0: validation targets only.
        seed: ranker initialisation and training order.
    """

    def __init__(self, generators: Sequence[object], per_generator: int = 50, hidden: int = 64, epochs: int = 30,
                 lr: float = 3e-3, batch_size: int = 256, holdout: float = 0.1, max_len: int = 50,
                 max_neighbours: int | None = 300, history_candidates: bool = False, earlier_targets: int = 0,
                 exclude_seen: bool = True, seed: int = 0) -> None:
        if not generators:
            raise ValueError("the hybrid needs at least one candidate generator")
        if per_generator < 1:
            raise ValueError(f"per_generator must be >= 1, got {per_generator}")
        if earlier_targets and any(isinstance(g, TrainedRun) for g in generators):
            raise ValueError("earlier_targets needs generators refitted without the earlier targets; a trained "
                             "run (TrainedRun) learned from them: use earlier_targets=0")
        self.baselines = list(generators)
        self.per_generator, self.hidden, self.epochs, self.lr = per_generator, hidden, epochs, lr
        self.batch_size, self.holdout, self.max_len = batch_size, holdout, max_len
        self.max_neighbours, self.history_candidates, self.seed = max_neighbours, history_candidates, seed
        self.earlier_targets, self.exclude_seen = earlier_targets, exclude_seen
        self.context_columns: list[str] = []  # the request-context columns the ranker reads, in order
        self.module: HybridScorer | None = None
        self.training_rows: np.ndarray | None = None  # log rows of the targets the ranker read (trained or held out)
        self.fit_report: dict[str, float] = {}

    def fit(self, log: EncodedLog, item_features: FeatureTable | None = None) -> HybridRanker:
        """Fit stage 1 on training events, then the ranker on the validation targets (never test) and, with
        ``earlier_targets``, on earlier training events."""
        self.context_columns = [spec.name for spec in log.context_specs]
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            features = None if item_features is None else torch.from_numpy(item_features.ids)
            ranker = RankerMLP(3 * len(self.baselines) + 3, self.hidden, features,
                               context_sizes=[spec.cardinality for spec in log.context_specs])
        earlier, earlier_rows = [], []
        for depth in range(1, self.earlier_targets + 1):
            shifted = _earlier_target_log(log, depth)
            module = self._stage_one(shifted, [copy.deepcopy(b) for b in self.baselines], ranker)
            rows, targets = self._ranker_rows(shifted, module)
            earlier.append(rows)
            earlier_rows.append(targets)
        self.module = self._stage_one(log, self.baselines, ranker)
        rows, self.training_rows = self._ranker_rows(log, self.module)
        self.fit_report = {"validation_requests": len(rows), "retrieved": int((rows.label >= 0).sum())}
        extra = None
        if earlier:
            extra = RankerRows.concat(earlier)
            self.training_rows = np.concatenate([self.training_rows, *earlier_rows])
            self.fit_report.update(earlier_requests=len(extra), earlier_retrieved=int((extra.label >= 0).sum()))
        self.fit_report.update(fit_ranker(ranker, rows, extra=extra, epochs=self.epochs, lr=self.lr,
                                          batch_size=self.batch_size, holdout=self.holdout, seed=self.seed))
        self.module.eval()
        return self

    def _stage_one(self, log: EncodedLog, baselines: list[object], ranker: RankerMLP) -> HybridScorer:
        """The generators fitted on ``log``'s training part, around ``ranker``."""
        counts = log.training_item_counts()
        generators = [generator_of(b.fit(log), counts, self.max_neighbours) for b in baselines]
        return HybridScorer(generators, ranker, torch.from_numpy(counts), self.per_generator).eval()

    def _ranker_rows(self, log: EncodedLog, module: HybridScorer) -> tuple[RankerRows, np.ndarray]:
        """Candidates, features and labels of every validation target of ``log`` (``label`` -1 where stage 1
        missed it), and the targets' rows in the flat log.

        Under ``exclude_seen`` other history items are no valid negatives, as the evaluation never ranks them."""
        packed = pack_targets(log, VALIDATION, self.max_len)
        _check_histories_before_test(log, packed.row, packed.seen_start)
        parts: list[RankerRows] = []
        with torch.no_grad():
            for start in range(0, len(packed), ROWS_AT_ONCE):
                chunk = np.arange(start, min(start + ROWS_AT_ONCE, len(packed)))
                items = torch.from_numpy(packed.items[chunk].astype(np.int64))
                history = torch.from_numpy(seen_items(log, packed, chunk))
                hidden = self._hidden(items, history, module.num_items)
                candidates, valid, features, last = module.candidates(items, hidden)
                target = torch.from_numpy(packed.target[chunk].astype(np.int64))
                hit = valid & (candidates == target.unsqueeze(1))  # [b, C]
                if self.exclude_seen:
                    seen = (candidates.unsqueeze(2) == history.unsqueeze(1)).any(2)  # [b, C]
                    valid = valid & (hit | ~seen)
                label = torch.where(hit.any(1), hit.to(torch.int64).argmax(1), -1)
                context = (torch.zeros(len(chunk), 0, dtype=torch.int64) if packed.target_context is None
                           else torch.from_numpy(packed.target_context[chunk].astype(np.int64)))  # [b, K]
                parts.append(RankerRows(features, candidates, valid, last, label, context))
        return RankerRows.concat(parts), packed.row

    def _hidden(self, items: Tensor, history: Tensor | None, num_items: int) -> Tensor:
        """``[B, N]`` items that may not be candidates: the history (``[B, M]``, else ``items``) by default."""
        hidden = torch.zeros(len(items), num_items, dtype=torch.bool, device=items.device)
        if not self.history_candidates:
            seen = items if history is None else history.to(items.device)
            seen = torch.where((seen >= 0) & (seen < num_items), seen, PAD_INDEX)
            hidden.scatter_(1, seen, True)
        return hidden

    def score(self, batch: SequenceBatch) -> Tensor:
        """``[B, N]`` ranker scores of each row's candidates, ``-inf`` for every other item."""
        if self.module is None:
            raise RuntimeError("HybridRanker.fit() must run before score()")
        with torch.no_grad():
            context = None if batch.context is None else batch.context[:, -1]  # [B, K] the request's
            return self.module(batch.items, self._hidden(batch.items, batch.exclude, self.module.num_items), context)


def _earlier_target_log(log: EncodedLog, depth: int) -> EncodedLog:
    """``log`` with each user's ``depth``-th from last training event as the validation target: the training
    events before it train, it and every later event of the user (validation and test included) are held
    out. Users with fewer than ``depth + 1`` training events give no target."""
    train = log.part == TRAIN
    index = np.arange(len(log))
    train_end = np.zeros(len(log), dtype=np.int64)  # per event: one past its user's last training event
    last = np.flatnonzero(train & ~np.append(train[1:] & (log.user[1:] == log.user[:-1]), False))
    train_end[log.user_start[last]] = last + 1
    train_end = np.maximum.accumulate(np.where(index == log.user_start, train_end, 0))
    target = train_end - depth  # [E] this user's new target row
    part = np.full(len(log), HELD_OUT, dtype=log.part.dtype)
    part[index < target] = TRAIN
    part[(index == target) & (target - log.user_start >= 1)] = VALIDATION  # a history of at least one event
    part[~train] = HELD_OUT
    return replace(log, part=part)


def _check_histories_before_test(log: EncodedLog, rows: np.ndarray, starts: np.ndarray) -> None:
    """Raise ``LeakageError`` if a ranker training target or its history is a test event."""
    tests = np.concatenate([[0], np.cumsum(log.part == TEST)])  # tests[i]: test events before row i
    inside = tests[rows + 1] - tests[starts]  # test events in [start, row]
    if inside.any():
        raise LeakageError(f"{int((inside > 0).sum())} ranker training requests would read a test event: the "
                           "split puts test events before validation targets")
