import hashlib

import numpy as np
import polars as pl
import pytest

from xsell.data.features import build_feature_table, hash_tokens
from xsell.data.vocabulary import Vocabulary
from xsell.errors import SchemaError

ITEMS = pl.DataFrame({
    "item_id": ["u", "v", "w", "x"],
    "category": ["cam", "card", "cam", None],
    "price": [10.0, 20.0, 30.0, 40.0],
    "tags": [["a", "b"], ["b"], [], ["c", "a", "b"]],
})


def test_categorical_numeric_and_token_columns():
    vocab = Vocabulary(["w", "u", "v", "new"], name="item_id")  # "new" has no row in the table
    table = build_feature_table(ITEMS, "item_id", vocab, ["category", "price", "tags"], num_buckets=2, max_tokens=2)
    assert [s.name for s in table.specs] == ["category", "price", "tags"]
    assert [s.slots for s in table.specs] == [1, 1, 2] and table.width == 4
    ids = table.ids
    assert ids.shape == (len(vocab), 4)
    np.testing.assert_array_equal(ids[0], [0, 0, 0, 0])  # padding row
    np.testing.assert_array_equal(ids[1], [1, 1, 1, 1])  # unknown item row
    # category vocabulary fitted on known items: cam (2 items) -> 2, card -> 3
    assert ids[2:, 0].tolist() == [2, 2, 3, 1]
    # price: median edge of [30, 10, 20] is 20 -> 10 below (2), 20 and 30 at/above (3); missing -> 1
    assert ids[2:, 1].tolist() == [3, 2, 3, 1]
    # tags vocabulary: b (2), a (1) -> b=2, a=3; w has no tags; u has a, b
    assert ids[2:, 2:].tolist() == [[0, 0], [3, 2], [2, 0], [0, 0]]


def test_missing_feature_column_is_a_schema_error():
    with pytest.raises(SchemaError, match="brand"):
        build_feature_table(ITEMS, "item_id", Vocabulary(["u"]), ["brand"], source="items.parquet")


def test_hashed_tokens_are_stable_and_cover_unseen_tokens():
    vocab = Vocabulary(["u", "v", "w", "x"], name="item_id")
    table = build_feature_table(ITEMS, "item_id", vocab, ["tags"], max_tokens=2, hash_buckets=8)
    (spec,) = table.specs
    assert spec.hash_buckets == 8 and spec.cardinality == 10 and spec.slots == 2
    expected = {t: int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") % 8 + 2
                for t in ("a", "b", "c")}  # the documented hash, recomputed here
    assert table.ids[2:].tolist() == [[expected["a"], expected["b"]], [expected["b"], 0], [0, 0],
                                      [expected["c"], expected["a"]]]
    # a token only a new item carries gets a real bucket (not unknown), the same in any other table
    new = pl.DataFrame({"item_id": ["n"], "tags": [["zzz-never-seen", "a"]]})
    ids = build_feature_table(new, "item_id", Vocabulary(["n"]), ["tags"], max_tokens=2, hash_buckets=8).ids[2]
    assert ids[1] == expected["a"] and 2 <= ids[0] < 10
    assert hash_tokens(pl.Series(["a", None]), 8).to_list() == [expected["a"], None]


def test_hash_buckets_must_be_positive():
    with pytest.raises(ValueError, match="hash_buckets"):
        build_feature_table(ITEMS, "item_id", Vocabulary(["u"]), ["tags"], hash_buckets=0)
