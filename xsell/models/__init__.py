"""Next-item models: plain ``nn.Module``s sharing one interface (``encode`` / ``item_embeddings``)."""

from xsell.models.base import SequenceModel
from xsell.models.bert4rec import BERT4Rec
from xsell.models.gru4rec import GRU4Rec
from xsell.models.mean_pool import MeanPool
from xsell.models.sasrec import SASRec
from xsell.models.two_tower import ItemTower, TwoTower

__all__ = ["BERT4Rec", "GRU4Rec", "ItemTower", "MeanPool", "SASRec", "SequenceModel", "TwoTower"]
