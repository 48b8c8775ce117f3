import pytest
import torch

from xsell.data.features import FeatureSpec
from xsell.nn.embeddings import ContextEmbedding, FeatureEmbedding, ItemEmbedding, RequestFeatures

# 5 item indices (0 pad, 1 unknown, 2..4 known); a "category" column and a two-slot "tokens" feature.
FEATURE_IDS = torch.tensor([
    [0, 0, 0],
    [1, 1, 1],
    [2, 2, 3],
    [3, 4, 0],  # one token slot empty
    [2, 0, 0],  # no tokens at all
])
SPECS = [FeatureSpec("category", 4), FeatureSpec("tokens", 5, slots=2)]


def embedding(extra_tokens: int = 0) -> ItemEmbedding:
    torch.manual_seed(0)
    return ItemEmbedding(5, 6, FEATURE_IDS, SPECS, extra_tokens=extra_tokens)


def manual(emb: ItemEmbedding, item: int) -> torch.Tensor:
    """id vector + per feature the mean of its non-padding slot vectors (zero when all slots are empty)."""
    vector = emb.ids.weight[item].clone()
    columns = [[0], [1, 2]]
    for table, cols in zip(emb.features, columns, strict=True):
        ids = [int(FEATURE_IDS[item, c]) for c in cols if FEATURE_IDS[item, c] > 0]
        if ids:
            vector += table.weight[ids].mean(0)
    return vector


def test_item_vector_is_id_plus_mean_of_feature_slots():
    emb = embedding()
    out = emb(torch.tensor([[2, 3], [4, 1]]))
    assert out.shape == (2, 2, 6)
    for (row, col), item in {(0, 0): 2, (0, 1): 3, (1, 0): 4, (1, 1): 1}.items():
        torch.testing.assert_close(out[row, col], manual(emb, item))


def test_padding_item_is_zero():
    emb = embedding()
    assert torch.equal(emb(torch.tensor([0])), torch.zeros(1, 6))


def test_catalog_excludes_extra_tokens():
    emb = embedding(extra_tokens=1)
    catalog = emb.catalog()
    assert catalog.shape == (5, 6)
    torch.testing.assert_close(catalog[3], manual(emb, 3))
    # the mask token (index 5) has an id vector but no features
    torch.testing.assert_close(emb(torch.tensor([5]))[0], emb.ids.weight[5])


def test_feature_table_must_cover_every_item():
    with pytest.raises(ValueError, match="expected 6"):
        ItemEmbedding(6, 4, FEATURE_IDS, SPECS)


def test_without_features_is_plain_id_embedding():
    torch.manual_seed(0)
    emb = ItemEmbedding(7, 4)
    assert torch.equal(emb(torch.tensor([3, 0])), torch.stack([emb.ids.weight[3], torch.zeros(4)]))


def test_positions_count_from_the_right():
    torch.manual_seed(0)
    context = ContextEmbedding(max_len=5, dim=4)
    x = torch.zeros(2, 3, 4)
    zeros = torch.zeros(2, 3, dtype=torch.long)
    out = context(x, zeros, zeros)
    # A length-3 input takes the last three positions: its last column is always position max_len - 1.
    torch.testing.assert_close(out[0], context.positions.weight[2:5])
    torch.testing.assert_close(out[1], context.positions.weight[2:5])
    full = context(torch.zeros(1, 5, 4), torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))
    torch.testing.assert_close(full[0, -1], out[0, -1])


def test_event_and_time_gap_embeddings_are_added():
    torch.manual_seed(0)
    context = ContextEmbedding(max_len=4, dim=4, num_event_types=5, num_time_gap_buckets=6, positions=False)
    x = torch.randn(1, 2, 4)
    out = context(x, torch.tensor([[0, 3]]), torch.tensor([[0, 2]]))
    torch.testing.assert_close(out[0, 1], x[0, 1] + context.events.weight[3] + context.time_gaps.weight[2])


def test_padding_event_and_time_gap_add_nothing():
    torch.manual_seed(0)
    context = ContextEmbedding(max_len=4, dim=4, num_event_types=5, num_time_gap_buckets=6, positions=False)
    x = torch.randn(1, 2, 4)
    out = context(x, torch.tensor([[0, 3]]), torch.tensor([[0, 2]]))
    torch.testing.assert_close(out[0, 0], x[0, 0])


def test_feature_embedding_sums_mean_slot_vectors():
    torch.manual_seed(0)
    block = FeatureEmbedding(SPECS, 6)
    out = block.content(FEATURE_IDS[2:4])  # [2, 6]
    category, tokens = block.features
    torch.testing.assert_close(out[0], category.weight[2] + (tokens.weight[2] + tokens.weight[3]) / 2)
    torch.testing.assert_close(out[1], category.weight[3] + tokens.weight[4])  # the empty slot is ignored
    assert block.width == 3 and FeatureEmbedding([], 6).content(torch.zeros(2, 0, dtype=torch.long)).abs().sum() == 0


def test_request_features_fuse_context_and_user_into_the_query():
    torch.manual_seed(0)
    h = torch.randn(2, 6)
    assert RequestFeatures(6)(h) is h and len(list(RequestFeatures(6).parameters())) == 0
    block = RequestFeatures(6, [FeatureSpec("device", 4)], [FeatureSpec("segment", 3)])
    context, user = torch.tensor([[2], [1]]), torch.tensor([[2], [0]])
    side = block.context.features[0].weight[[2, 1]] + block.user.features[0].weight[[2, 0]] * torch.tensor([[1.0], [0.0]])
    expected = h + block.mlp(torch.cat([h, side], dim=-1))
    torch.testing.assert_close(block(h, context, user), expected)
    sequence = block(h.unsqueeze(1).expand(2, 3, 6), context.unsqueeze(1).expand(2, 3, 1), user)  # [B, L, D]
    torch.testing.assert_close(sequence[:, -1], expected)
    with pytest.raises(ValueError, match="user features"):
        block(h, context, None)
