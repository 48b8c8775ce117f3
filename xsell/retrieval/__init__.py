"""Retrieval: FAISS indexes of item vectors, two-tower candidate generation, two-stage re-ranking."""

from xsell.retrieval.index import ItemIndex, SearchResult
from xsell.retrieval.recall import exact_search, recall_at_k
from xsell.retrieval.retriever import Retriever, build_item_index
from xsell.retrieval.two_stage import TwoStageScorer

__all__ = ["ItemIndex", "Retriever", "SearchResult", "TwoStageScorer", "build_item_index", "exact_search",
           "recall_at_k"]
