"""Export to serving: a top-k scorer (TorchScript + torch.export), an item table, a manifest with checksums
and a model card in one verified bundle folder, proven to rank like the trained model.

- :mod:`~xsell.export.scorer`: ``TopKScorer``, the ``nn.Module`` that serves (no files, no framework);
- :mod:`~xsell.export.programs`: the scorer compiled with TorchScript and torch.export;
- :mod:`~xsell.export.parity`: the eager reference and the top-k comparison;
- :mod:`~xsell.export.manifest` / :mod:`~xsell.export.card`: what the bundle says about itself;
- :mod:`~xsell.export.bundle`: ``write_bundle`` (atomic, self-checked) and ``load_bundle`` (verified);
- :mod:`~xsell.export.run`: from a training run (model + data + config + metrics) to a bundle (``export_run``);
- :mod:`~xsell.export.cli`: ``python -m xsell.export ckpt=...`` / ``xsell-export``.
"""

from xsell.export.bundle import Bundle, load_bundle, write_bundle
from xsell.export.scorer import TopKScorer

__all__ = ["Bundle", "TopKScorer", "load_bundle", "write_bundle"]
