import pytest
import torch

from tests.models import common
from xsell.data.features import FeatureSpec
from xsell.models import GRU4Rec, MeanPool, SASRec, TwoTower
from xsell.models.bert4rec import BERT4Rec
from xsell.nn.losses import InBatchSoftmax
from xsell.retrieval import ItemIndex


def build(query=None, **options) -> TwoTower:
    def sasrec(**sizes):
        return SASRec(layers=1, heads=2, dropout=0.1, **sizes)

    return common.seeded(lambda: TwoTower(common.NUM_ITEMS, dim=common.DIM, max_len=common.MAX_LEN,
                                          query=query or sasrec, **options))


@pytest.mark.parametrize("query", [MeanPool, GRU4Rec])
def test_any_causal_encoder_is_a_query_tower(query):
    model = build(query=query, **common.hybrid_options())
    common.check_shapes(lambda: model)
    torch.testing.assert_close(common.encode(model), common.sequence_output(model, common.ITEMS)[:, -1],
                               atol=1e-5, rtol=0)


def test_cloze_encoder_is_rejected():
    with pytest.raises(ValueError, match="causal"):
        TwoTower(common.NUM_ITEMS, dim=common.DIM, max_len=common.MAX_LEN, query=BERT4Rec)


def test_towers_are_unit_norm_and_padding_is_zero():
    model = build(**common.hybrid_options())
    with torch.no_grad():
        items = model.item_embeddings()
        users = common.encode(model)
    assert items[0].abs().sum() == 0
    torch.testing.assert_close(items[1:].norm(dim=-1), torch.ones(common.NUM_ITEMS - 1))
    torch.testing.assert_close(users.norm(dim=-1), torch.ones(2))


def test_item_tower_has_its_own_id_table():
    model = build(**common.hybrid_options())
    assert model.items.embedding.ids.weight.data_ptr() != model.query.input.items.ids.weight.data_ptr()
    with torch.no_grad():
        model.query.input.items.ids.weight.add_(1.0)  # the query side's embeddings do not move the items
    before = model.item_embeddings()
    torch.testing.assert_close(build(**common.hybrid_options()).item_embeddings(), before)


def test_event_types_and_time_gaps_reach_the_query_tower():
    model = build(**common.hybrid_options())
    reference = common.encode(model)
    other_events = torch.where(common.EVENTS > 0, (common.EVENTS - 1) % 3 + 2, common.EVENTS)
    assert not torch.allclose(common.encode(model, common.ITEMS, other_events, common.GAPS), reference, atol=1e-4)
    other_gaps = torch.where(common.GAPS > 0, common.GAPS + 3, common.GAPS)
    assert not torch.allclose(common.encode(model, common.ITEMS, common.EVENTS, other_gaps), reference, atol=1e-4)


# -- cold start ---------------------------------------------------------------------------------------
# 40 items (indices 2..41) in 4 categories of 10; category c's buyers next buy category (c + 1) % 4.
# The first 8 items of each category are warm (trained on); the last 2 of each never occur in training.
CATEGORIES = 4
PER_CATEGORY = 10
NUM = 2 + CATEGORIES * PER_CATEGORY
CATEGORY = torch.cat([torch.zeros(2, dtype=torch.long), torch.arange(CATEGORIES).repeat_interleave(PER_CATEGORY)])
WARM = [i for i in range(2, NUM) if (i - 2) % PER_CATEGORY < 8]
COLD = [i for i in range(2, NUM) if (i - 2) % PER_CATEGORY >= 8]


def cold_start_model(seed: int = 0) -> TwoTower:
    generator = torch.Generator().manual_seed(seed)
    brand = torch.randint(2, 7, (NUM,), generator=generator)  # a feature that carries no signal
    features = torch.stack([CATEGORY + 2, brand], 1)
    features[0] = 0
    features[1] = 1
    torch.manual_seed(seed)
    return TwoTower(NUM, dim=16, max_len=2, query=MeanPool, feature_ids=features,
                    feature_specs=[FeatureSpec("category", CATEGORIES + 2), FeatureSpec("brand", 7)], id_dropout=0.3)


def train_pairs(model: TwoTower, steps: int = 150, seed: int = 0) -> TwoTower:
    """Histories [a] -> next item b, a and b warm items of consecutive categories."""
    generator = torch.Generator().manual_seed(seed)
    loss = InBatchSoftmax(temperature=0.1, learn_temperature=False)
    loss.prepare(torch.ones(NUM))
    optimizer = torch.optim.Adam([*model.parameters()], lr=0.01)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only contend
    try:
        _train(model, loss, optimizer, steps, generator)
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def _train(model: TwoTower, loss: InBatchSoftmax, optimizer: torch.optim.Optimizer, steps: int,
           generator: torch.Generator) -> None:
    warm = torch.tensor(WARM)
    for _ in range(steps):
        first = warm[torch.randint(len(warm), (64,), generator=generator)]
        next_category = (CATEGORY[first] + 1) % CATEGORIES
        allowed = (CATEGORY[warm].unsqueeze(0) == next_category.unsqueeze(1)).float()  # [B, W]
        second = warm[allowed.multinomial(1, generator=generator).squeeze(1)]  # [B]
        history = first.unsqueeze(1)  # [B, 1]
        hidden = model.sequence_output(history, torch.zeros_like(history), torch.zeros_like(history))  # [B, 1, D]
        value = loss(hidden[:, 0], second, model.item_embeddings())
        optimizer.zero_grad()
        value.backward()
        optimizer.step()


def test_cold_items_get_feature_vectors_before_training():
    model = cold_start_model().eval()
    with torch.no_grad():
        vectors = model.item_embeddings()
        new = model.embed_new_items(model.items.embedding.feature_ids[COLD])
    torch.testing.assert_close(new, vectors[COLD])  # an all-zero id row = features only
    assert (new.norm(dim=-1) > 0.99).all() and vectors[0].abs().sum() == 0  # not the padding vector


def test_cold_items_are_closer_to_their_category_and_retrieved_for_the_complement():
    model = train_pairs(cold_start_model())
    with torch.no_grad():
        vectors = model.item_embeddings()  # [N, D]
        assert model.items.embedding.ids.weight[COLD].abs().sum() == 0  # never trained: id rows stay zero
        cold = torch.tensor(COLD)
        similarity = vectors[cold] @ vectors[2:].T  # [C, 40]
        same = CATEGORY[cold].unsqueeze(1) == CATEGORY[2:].unsqueeze(0)
        same &= cold.unsqueeze(1) != torch.arange(2, NUM).unsqueeze(0)
        assert (similarity[same].mean() - similarity[~same].mean()) > 0.5
        # a history of one warm item of category c ranks the cold items of category c + 1 first
        queries = torch.tensor([WARM[0], WARM[8], WARM[16], WARM[24]]).unsqueeze(1)  # one per category
        scores = model.encode_sequence(queries, torch.zeros_like(queries), torch.zeros_like(queries)) @ vectors[cold].T
        top = cold[scores.topk(2, dim=1).indices]  # [4, 2]
        expected = (CATEGORY[queries.squeeze(1)] + 1) % CATEGORIES
        assert torch.equal(CATEGORY[top], expected.unsqueeze(1).expand(-1, 2))


def test_normalize_off_gives_raw_inner_products():
    model = build(normalize=False)
    with torch.no_grad():
        assert not torch.allclose(model.item_embeddings()[2:].norm(dim=-1), torch.ones(common.NUM_ITEMS - 2))
        raw = model.project(model.query.encode_sequence(common.ITEMS, common.EVENTS, common.GAPS))
    torch.testing.assert_close(common.encode(model), raw)


def test_trains_through_the_hydra_entry_point_with_content_features(tmp_path):
    """``model=two_tower`` composes with its default loss (in-batch softmax), writes metrics.json and, with
    ``index=hnsw``, a FAISS index of the item tower."""
    import json

    from tests.test_train import REPORTED, SHRINK, config
    from xsell.training.fitting import train

    cfg = config(tmp_path, *SHRINK, "model=two_tower", "model/query=mean_pool", "baseline=false",
                 "inputs.item_features=[category,brand,price_bucket,title_tokens]", "loss.uniform_negatives=8",
                 "index=hnsw")
    assert cfg.loss._target_ == "xsell.nn.losses.InBatchSoftmax"
    metrics = train(cfg)
    assert metrics["model"] == "xsell.models.TwoTower"
    assert json.loads((tmp_path / "metrics.json").read_text())["test"] == metrics["test"]
    assert set(REPORTED) <= set(metrics["test"]) and metrics["epochs"] == 1
    index = ItemIndex.load(tmp_path / "index")  # index=hnsw: the item vectors, indexed beside the run
    assert index.factory == "HNSW32" and index.search_params == "efSearch=64" and len(index) > 100
