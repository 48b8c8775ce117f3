"""Cross-sell rules: a composable re-ranking pipeline over ``[B, N]`` model scores (-inf = excluded).

Score rules (:mod:`.history`, :mod:`.complement`, :mod:`.price`, :mod:`.filters`) change scores item by
item; list rules (:mod:`.selection`: at most N per category, category MMR) pick the served top-k greedily.
:mod:`.pipeline` composes them; :mod:`.catalog` holds the per-item tensors they read.
"""
