"""Honest baselines, scored through exactly the same evaluation path as neural models.

Each has ``fit(log: EncodedLog) -> self``, learning only from training events (``log.part == TRAIN``), and
``score(batch: SequenceBatch) -> Tensor [B, N]`` with a score for every item index, so that
``evaluate_scorer(baseline.score, evaluation_batches(prepared, "test"))`` evaluates it like any model.

Example::

    prepared = prepare(read_atomic("ml-100k"), max_len=50)  # xsell.data.prepared
    knn = ItemKNN(k=300, window=10, shrink=10.0, decay=0.8).fit(prepared.log)
    evaluate_scorer(knn.score, evaluation_batches(prepared, "val"))  # tune on validation, report test once
"""

from xsell.baselines.association_rules import AssociationRules
from xsell.baselines.ease import EASE
from xsell.baselines.itemknn import ItemKNN
from xsell.baselines.markov import Markov
from xsell.baselines.popularity import MostPopular

__all__ = ["AssociationRules", "EASE", "ItemKNN", "Markov", "MostPopular"]
