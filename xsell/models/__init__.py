"""Next-item models: plain ``nn.Module``s sharing one interface (``encode`` / ``item_embeddings``)."""

from xsell.models.base import SequenceModel
from xsell.models.bert4rec import BERT4Rec
from xsell.models.gru4rec import GRU4Rec
from xsell.models.sasrec import SASRec

__all__ = ["BERT4Rec", "GRU4Rec", "SASRec", "SequenceModel"]
