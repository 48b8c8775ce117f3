"""Shared fixtures: a small synthetic shop and one written bundle per model (SASRec, BERT4Rec, GRU4Rec and
a SASRec with event types, time gaps and item features), each built once per test session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from xsell.data.prepared import PreparedData, prepare
from xsell.data.sequences import NUM_TIME_GAP_BUCKETS
from xsell.data.synthetic import synthetic_shop
from xsell.export.bundle import Bundle, load_bundle
from xsell.export.run import export_model
from xsell.export.scorer import TopKScorer
from xsell.models import BERT4Rec, GRU4Rec, SASRec

MAX_LEN = 16
DIM = 16
N_EVENTS = 26_000  # about 520 users: more than 1,000 validation + test histories
MODELS = ("sasrec", "bert4rec", "gru4rec", "sasrec_hybrid")


@dataclass
class Exported:
    """A model, the data it belongs to, and the bundle written from it."""

    name: str
    model: torch.nn.Module
    data: PreparedData
    path: Path
    hybrid: bool

    @cached_property
    def bundle(self) -> Bundle:
        return load_bundle(self.path)

    @cached_property
    def program(self) -> torch.nn.Module:
        return self.bundle.program()

    @property
    def context(self) -> dict[str, int]:
        """``{"events": table size, "time_gaps": table size}`` when the model reads them, else empty."""
        if not self.hybrid:
            return {}
        return {"events": self.data.num_event_types, "time_gaps": NUM_TIME_GAP_BUCKETS}

    def eager_scorer(self) -> TopKScorer:
        """The eager scorer of the model (the reference reads its model, prior and rules)."""
        return TopKScorer(self.model, self.data.item_counts(), num_event_types=self.context.get("events", 0),
                          num_time_gap_buckets=self.context.get("time_gaps", 0))


@pytest.fixture(scope="session")
def shop() -> PreparedData:
    return prepare(synthetic_shop(n_events=N_EVENTS, seed=0), max_len=MAX_LEN, item_features=["category", "brand"])


def build(name: str, data: PreparedData) -> torch.nn.Module:
    """A seeded, untrained model (parity does not need a trained one), in eval mode."""
    torch.manual_seed(0)
    cls = {"sasrec": SASRec, "bert4rec": BERT4Rec, "gru4rec": GRU4Rec, "sasrec_hybrid": SASRec}[name]
    options = {}
    if name.endswith("hybrid"):
        features = data.item_features
        options = dict(num_event_types=data.num_event_types, num_time_gap_buckets=NUM_TIME_GAP_BUCKETS,
                       feature_ids=torch.from_numpy(features.ids), feature_specs=features.specs)
    return cls(data.num_items, dim=DIM, max_len=MAX_LEN, dropout=0.1, **options).eval()


@pytest.fixture(scope="session")
def export_of(shop, tmp_path_factory) -> Callable[[str], Exported]:
    """``export_of(name)``: the bundle of one model, written on first use and shared by the session."""
    cache: dict[str, Exported] = {}

    def get(name: str) -> Exported:
        if name not in cache:
            model = build(name, shop)
            hybrid = name.endswith("hybrid")
            config = OmegaConf.create({"model": {"_target_": f"{type(model).__module__}.{type(model).__name__}"},
                                       "inputs": {"event_types": hybrid, "time_gaps": hybrid}})
            path = export_model(model, shop, config, tmp_path_factory.mktemp(name) / "bundle",
                                metrics={"val": {"ndcg@10": 0.25}, "test": {"ndcg@10": 0.5}}, source="memory")
            cache[name] = Exported(name, model, shop, path, hybrid)
        return cache[name]

    return get


@pytest.fixture(params=MODELS)
def exported(request, export_of) -> Exported:
    """Each model's bundle in turn."""
    return export_of(request.param)
