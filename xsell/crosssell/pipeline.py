"""Compose rules into one re-ranking step, and wrap any scorer so rules apply before ranking.

Example::

    catalog = ItemCatalog.of(datamodule.prepared)
    pipeline = build_pipeline(instantiate(cfg.rules), catalog)           # configs/rules/<name>.yaml
    report = evaluate(pipeline.wrap(model.score), datamodule.prepared)   # every metric with the rules on
    scorer = TopKScorer(model, counts, rules=pipeline.compiled())       # the item-table rules, for export
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from xsell.crosssell.catalog import ItemCatalog
from xsell.crosssell.rule import ScoreRule
from xsell.crosssell.selection import ListRule, greedy_top_k
from xsell.data.batch import SequenceBatch

Rule = ScoreRule | ListRule


class ScoreRules(nn.Module):
    """Score rules applied in order; an empty one returns the scores unchanged. TorchScript-able when every
    rule is (this is what the serving scorer holds)."""

    def __init__(self, rules: Sequence[ScoreRule] = ()) -> None:
        super().__init__()
        self.rules = nn.ModuleList(rules)

    def forward(self, scores: Tensor, items: Tensor, events: Tensor) -> Tensor:
        for rule in self.rules:
            scores = rule(scores, items, events)
        return scores

    def describe(self) -> list[dict[str, Any]]:
        return [rule.describe() for rule in self.rules]


class RulePipeline:
    """Score rules, then list rules, over ``[B, N]`` scores.

    ``pipeline(scores, items, events, exclude)`` returns ``[B, N]`` float64 scores that rank exactly like the
    re-ranked list: the score rules' output, with the first ``k`` slots picked by the list rules (if any)
    lifted above everything else in slot order. ``exclude`` ``[B, M]`` (item indices, 0 pads) never fill a
    slot; they keep their scores below the slots (so an evaluation that excludes seen items still ranks a
    seen target, as :func:`~xsell.evaluation.ranking.target_ranks` does).
    """

    def __init__(self, score_rules: Sequence[ScoreRule] = (), list_rules: Sequence[ListRule] = ()) -> None:
        self.score_rules = ScoreRules(score_rules).eval()
        self.list_rules = list(list_rules)

    def __call__(self, scores: Tensor, items: Tensor, events: Tensor, exclude: Tensor | None = None) -> Tensor:
        with torch.no_grad():
            scores = self.score_rules.to(scores.device)(scores, items.to(scores.device), events.to(scores.device))
            if not self.list_rules:
                return scores
            eligible = scores if exclude is None else scores.scatter(1, exclude.to(scores.device), -float("inf"))
            k = max(rule.k for rule in self.list_rules)
            return slots_first(scores, greedy_top_k(eligible, self.list_rules, k))

    def wrap(self, score: Callable[[SequenceBatch], Tensor], *, exclude_seen: bool = True
             ) -> Callable[[SequenceBatch], Tensor]:
        """``score(batch) -> [B, N]`` with the rules applied (``exclude_seen``: drop the history before the
        list rules fill their slots, as the evaluation will)."""
        def reranked(batch: SequenceBatch) -> Tensor:
            exclude = batch.exclude if exclude_seen else None
            return self(score(batch), batch.items, batch.events, exclude)
        return reranked

    def compiled(self) -> ScoreRules:
        """The rules that can go into the serving scorer (``compiles``), in order."""
        return ScoreRules([rule for rule in self.score_rules.rules if rule.compiles])

    def left_out(self) -> list[dict[str, Any]]:
        """The rules :meth:`compiled` leaves out (they need event types or pick whole lists)."""
        return [rule.describe() for rule in [*self.score_rules.rules, *self.list_rules] if not rule.compiles]

    def describe(self) -> list[dict[str, Any]]:
        return [*self.score_rules.describe(), *(rule.describe() for rule in self.list_rules)]


def slots_first(scores: Tensor, chosen: Tensor) -> Tensor:
    """``[B, N]`` float64 scores where the ``chosen`` ``[B, k]`` items (-1 = empty slot) come first, in slot
    order, and every other item keeps its place (and ties) below them."""
    out = scores.to(torch.float64)  # exact room above the largest finite score for k slot values
    finite = torch.isfinite(out)
    top = out.masked_fill(~finite, -float("inf")).amax(1, keepdim=True)  # [B, 1]
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    k = chosen.shape[1]
    lift = top + 1.0 + torch.arange(k, 0, -1, dtype=torch.float64, device=out.device).unsqueeze(0)  # [B, k]
    valid = chosen >= 0
    rows = valid.nonzero()
    out[rows[:, 0], chosen[valid]] = lift[valid]
    return out


def build_pipeline(rules: Mapping[str, Callable[..., Rule]] | Iterable[Callable[..., Rule]] | None,
                   catalog: ItemCatalog) -> RulePipeline:
    """A pipeline from rule factories (Hydra partials of ``configs/rules/<name>.yaml``), each called with
    ``catalog=``, in order; score rules and list rules are told apart by type."""
    factories = list(rules.values() if isinstance(rules, Mapping) else rules or [])
    built = [factory(catalog=catalog) for factory in factories if factory is not None]
    unknown = [type(rule).__name__ for rule in built if not isinstance(rule, ScoreRule | ListRule)]
    if unknown:
        raise TypeError(f"not cross-sell rules: {unknown} (expected ScoreRule or ListRule subclasses)")
    return RulePipeline([r for r in built if isinstance(r, ScoreRule)], [r for r in built if isinstance(r, ListRule)])
