"""The hybrid two-stage model: stage-1 candidates from fitted baselines, re-ranked by a learned ranker.

``HybridRanker`` has the baselines' contract (``fit(log)``, ``score(batch) -> [B, N]``), so it is evaluated by
the same code (``python -m xsell.evaluate baselines=hybrid``); ``HybridScorer`` is the whole model as one
scriptable module, which :mod:`xsell.ranking.serving` compiles into a top-k scorer.
"""

from xsell.ranking.hybrid import HybridRanker, HybridScorer

__all__ = ["HybridRanker", "HybridScorer"]
