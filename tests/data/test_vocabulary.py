import polars as pl
import pytest

from xsell.data.vocabulary import Vocabulary
from xsell.errors import FormatError


def test_fit_orders_by_frequency_and_reserves_padding_and_unknown():
    vocab = Vocabulary.fit(pl.Series("item_id", ["b", "a", "b", "c", "a", "b"]))
    assert vocab.ids == ["b", "a", "c"]
    assert len(vocab) == 5 and vocab.index("b") == 2 and vocab.index("new") == 1
    frame = pl.DataFrame({"x": ["a", "zz", None, "b"]})
    assert frame.select(vocab.encode(pl.col("x"))).to_series().to_list() == [3, 1, 0, 2]
    assert vocab.decode([0, 1, 2, 4]) == [None, None, "b", "c"]


def test_save_load_round_trip_and_atomic_write(tmp_path):
    vocab = Vocabulary(["x", "y"], name="item_id")
    path = vocab.save(tmp_path / "vocab" / "items.json")
    assert Vocabulary.load(path) == vocab
    assert [p.name for p in path.parent.iterdir()] == ["items.json"]  # no temp file left behind


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "items.json"
    bad.write_text("[1, 2, 3]")
    with pytest.raises(FormatError, match="items.json"):
        Vocabulary.load(bad)


def test_grow_appends_without_moving_old_indices():
    vocab = Vocabulary(["x", "y"])
    grown = vocab.grow(["y", "z", "w", "z"])
    assert grown.ids == ["x", "y", "z", "w"]
    assert all(grown.index(i) == vocab.index(i) for i in vocab.ids)


def test_counts_of_parts_give_the_vocabulary_of_the_whole():
    whole = pl.Series("item_id", ["b", "a", "c", "a", "b", "d", "a"])
    parts = [whole[:3], whole[3:]]
    counts = pl.concat([p.value_counts(name="n") for p in parts]).group_by("item_id").agg(pl.col("n").sum())
    assert Vocabulary.from_counts(counts, "item_id") == Vocabulary.fit(whole)
    assert Vocabulary.fit(whole).ids == ["a", "b", "c", "d"]  # by count, ties by id
