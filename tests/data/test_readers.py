"""Readers: tiny hand-made files whose expected frames can be checked by eye, every bad-input error, real data."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from xsell.data.readers import read_atomic, read_events, read_sasrec_txt, scan_event_shards
from xsell.errors import DataError, EmptyDataError, FormatError, SchemaError

MAPPING = {"visitorid": "user_id", "itemid": "item_id", "ts": "timestamp"}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def expect_error(kind: type[DataError], call, *, file: Path, column: str | None = None, rows: int | None = None):
    """Run ``call``; check the exception type and that the message names the file, column and row count."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert type(info.value) is kind, message
    assert file.name in message, message
    if column is not None:
        assert f"column={column!r}" in message, message
    if rows is not None:
        assert f"rows={rows}" in message, message
    return message


def frame(**columns) -> pl.DataFrame:
    """An expected events frame with canonical dtypes."""
    schema = {"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64}
    return pl.DataFrame(columns, schema_overrides={k: v for k, v in schema.items() if k in columns})


# ------------------------------------------------------------------------------------------------ read_events


def test_csv_column_mapping_keeps_order_and_drops_unlisted_columns(tmp_path):
    path = write(tmp_path / "log.csv", "visitorid,itemid,ts,event,price\n7,007,30,view,1.5\n3,1,10,cart,2.0\n7,2,20,view,3.0\n")
    data = read_events(path, {**MAPPING, "event": "event"})
    expected = frame(user_id=["7", "3", "7"], item_id=["007", "1", "2"], timestamp=[30, 10, 20],
                     event=["view", "cart", "view"])
    assert_frame_equal(data.events, expected)
    assert data.items is None and data.users is None and data.name == str(path)


def test_context_columns_are_kept_and_must_exist(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp,device,session_id\nu,i,1,ios,s1\nv,j,2,web,s2\n")
    data = read_events(path, context=["device"])
    assert data.events.columns == ["user_id", "item_id", "timestamp", "session_id", "device"]
    assert data.events.get_column("device").to_list() == ["ios", "web"]
    expect_error(SchemaError, lambda: read_events(path, context=["country"]), file=path, column="country", rows=2)


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "log.parquet"
    pl.DataFrame({
        "visitorid": [1, 2, 2],
        "itemid": [10.0, 11.0, 12.5],  # integral float ids read as "10", not "10.0"
        "ts": [100.4, 200.6, 300.0],  # float seconds are rounded
        "event": ["view", "view", "purchase"],
    }).write_parquet(path)
    data = read_events(path, MAPPING)
    expected = frame(user_id=["1", "2", "2"], item_id=["10", "11", "12.5"], timestamp=[100, 201, 300],
                     event=["view", "view", "purchase"])
    assert_frame_equal(data.events, expected)


def test_csv_written_from_canonical_frame_reads_back_identically(tmp_path):
    events = frame(user_id=["a", "b"], item_id=["x", "y"], timestamp=[5, 6], event=["view", "cart"])
    events.write_csv(tmp_path / "log.csv")
    events.write_parquet(tmp_path / "log.pq")
    assert_frame_equal(read_events(tmp_path / "log.csv").events, events)
    assert_frame_equal(read_events(tmp_path / "log.pq").events, events)


def test_tsv_suffix_and_explicit_format(tmp_path):
    tsv = write(tmp_path / "log.tsv", "user_id\titem_id\ttimestamp\nu\ti\t1\n")
    assert read_events(tsv).events.row(0) == ("u", "i", 1)
    dat = write(tmp_path / "log.dat", "user_id;item_id;timestamp\nu;i;2\n")
    assert read_events(dat, format="csv", separator=";").events.row(0) == ("u", "i", 2)
    expect_error(FormatError, lambda: read_events(dat), file=dat)


def test_iso_and_datetime_timestamps_become_epoch_seconds(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n"
                 "u,i,2020-01-02\nu,j,2020-01-02T03:04:05\nu,k,2020-01-02 03:04:05.9\n"
                 "u,l,2020-01-02T03:04:05Z\nu,m,2020-01-02T03:04:05+02:00\n")
    day, moment = 1577923200, 1577934245  # 2020-01-02 00:00:00 and 03:04:05 UTC
    assert read_events(path).events.get_column("timestamp").to_list() == [
        day, moment, moment, moment, moment - 7200]
    parquet = tmp_path / "dt.parquet"
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [datetime(2020, 1, 2, 3, 4, 5)]}).write_parquet(parquet)
    assert read_events(parquet).events.item(0, "timestamp") == moment


def test_timestamps_mixing_numbers_and_dates_are_refused(tmp_path):
    """Epoch numbers and date strings in one column are two clocks (seconds? milliseconds? which zone?):
    refused with the count of each, never merged silently."""
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n"
                 "u,i,1577934245\nu,j,2020-01-02T03:04:05\nv,k,1577934300\nv,l,1577934400\n")
    with pytest.raises(SchemaError, match=r"timestamps mix numbers \(3 rows\) and date strings \(1 rows, "
                                          r"e\.g\. '2020-01-02T03:04:05'\).*column='timestamp' \| rows=1"):
        read_events(path)


def test_feature_tables_keyed_through_the_same_mapping(tmp_path):
    log = write(tmp_path / "log.csv", "visitorid,itemid,ts\n1,01,1\n2,02,2\n")
    items = write(tmp_path / "items.csv", "itemid,category,price\n01,games,9.5\n02,toys,3.0\n")
    users = tmp_path / "users.parquet"
    pl.DataFrame({"visitorid": [1, 2], "age": [30, 40]}).write_parquet(users)
    data = read_events(log, MAPPING, items=items, users=users)
    assert_frame_equal(data.items, pl.DataFrame({"item_id": ["01", "02"], "category": ["games", "toys"],
                                                 "price": [9.5, 3.0]}))
    assert_frame_equal(data.users, pl.DataFrame({"user_id": ["1", "2"], "age": [30, 40]}))
    assert data.summary()["item_features"] == ["category", "price"]


def test_feature_table_errors(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n1,1,1\n")
    dup = write(tmp_path / "dup_items.csv", "item_id,category\n1,a\n1,b\n2,c\n")
    expect_error(SchemaError, lambda: read_events(log, items=dup), file=dup, column="item_id", rows=1)
    nokey = write(tmp_path / "nokey_users.csv", "uid,age\n1,30\n")
    expect_error(SchemaError, lambda: read_events(log, users=nokey), file=nokey, column="user_id", rows=1)


# --------------------------------------------------------------------------------- read_events: bad input


def test_missing_column_names_file_column_and_rows(tmp_path):
    path = write(tmp_path / "log.csv", "visitorid,itemid,ts\n1,2,3\n4,5,6\n7,8,9\n")
    message = expect_error(SchemaError, lambda: read_events(path), file=path, column="user_id", rows=3)
    assert "columns=" in message  # hints at the mapping


def test_mapped_name_absent_from_file(tmp_path):
    path = write(tmp_path / "log.csv", "visitorid,item_id,timestamp\n1,2,3\n")
    expect_error(SchemaError, lambda: read_events(path, {"visitor": "user_id"}), file=path, column="visitor", rows=1)


def test_mapping_onto_an_existing_name(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,uid,item_id,timestamp\n1,1,2,3\n")
    expect_error(SchemaError, lambda: read_events(path, {"uid": "user_id"}), file=path, column="user_id")


def test_non_numeric_timestamps(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu,i,1\nu,j,yesterday\nu,k,soon\nu,l,2020-13-45\n")
    message = expect_error(SchemaError, lambda: read_events(path), file=path, column="timestamp", rows=3)
    assert "yesterday" in message


def test_non_numeric_timestamp_after_schema_inference_window(tmp_path):
    rows = "".join(f"u,i,{t}\n" for t in range(20_000))
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n" + rows + "u,i,oops\n")
    expect_error(SchemaError, lambda: read_events(path), file=path, column="timestamp", rows=1)


def test_null_timestamps_and_ids(tmp_path):
    ts = write(tmp_path / "ts.csv", "user_id,item_id,timestamp\nu,i,1\nu,j,\nu,k,\n")
    expect_error(SchemaError, lambda: read_events(ts), file=ts, column="timestamp", rows=2)
    ids = write(tmp_path / "ids.csv", "user_id,item_id,timestamp\nu,,1\nu,j,2\n")
    expect_error(SchemaError, lambda: read_events(ids), file=ids, column="item_id", rows=1)
    nan = tmp_path / "nan.parquet"
    pl.DataFrame({"user_id": ["u", "v"], "item_id": ["i", "j"], "timestamp": [1.0, float("nan")]}).write_parquet(nan)
    expect_error(SchemaError, lambda: read_events(nan), file=nan, column="timestamp", rows=1)


def test_timestamp_of_unusable_type(tmp_path):
    path = tmp_path / "bool.parquet"
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [True]}).write_parquet(path)
    expect_error(SchemaError, lambda: read_events(path), file=path, column="timestamp")


def test_csv_passed_as_parquet(tmp_path):
    path = write(tmp_path / "log.parquet", "user_id,item_id,timestamp\nu,i,1\n")
    expect_error(FormatError, lambda: read_events(path), file=path)
    csv = write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu,i,1\n")
    expect_error(FormatError, lambda: read_events(csv, format="parquet"), file=csv)


def test_binary_or_parquet_passed_as_csv(tmp_path):
    binary = tmp_path / "blob.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    expect_error(FormatError, lambda: read_events(binary), file=binary)
    parquet = tmp_path / "real.csv"
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [1]}).write_parquet(parquet)
    assert "parquet" in expect_error(FormatError, lambda: read_events(parquet), file=parquet)


def test_non_utf8_text_is_a_format_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("user_id,item_id,timestamp\nJosé,i,1\n".encode("latin-1"))
    expect_error(FormatError, lambda: read_events(path), file=path)


def test_empty_inputs(tmp_path):
    empty = write(tmp_path / "empty.csv", "")
    expect_error(EmptyDataError, lambda: read_events(empty), file=empty, rows=0)
    header = write(tmp_path / "header.csv", "user_id,item_id,timestamp\n")
    expect_error(EmptyDataError, lambda: read_events(header), file=header, rows=0)
    parquet = tmp_path / "empty.parquet"
    pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64}).write_parquet(parquet)
    expect_error(EmptyDataError, lambda: read_events(parquet), file=parquet, rows=0)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_events(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError):
        read_atomic(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        read_sasrec_txt(tmp_path / "nope.txt")


# ------------------------------------------------------------------------------------------------ read_atomic


def atomic_set(root: Path, name: str = "toy") -> Path:
    folder = root / name
    folder.mkdir()
    write(folder / f"{name}.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
          "1\t10\t4\t300.6\n2\t20\t2.5\t100\n1\t20\t5\t200\n")
    write(folder / f"{name}.item", "item_id:token\tmovie_title:token_seq\tclass:token_seq\tscores:float_seq\n"
          '10\tThe "Quoted", Film\tAction  Comedy\t0.5 1\n20\tPlain\t\t\n')
    write(folder / f"{name}.user", "user_id:token\tage:token\tgender:token\n1\t24\tM\n2\t53\tF\n")
    return folder


def test_atomic_directory_typed_headers_and_token_seqs(tmp_path):
    data = read_atomic(atomic_set(tmp_path))
    expected = frame(user_id=["1", "2", "1"], item_id=["10", "20", "20"], timestamp=[301, 100, 200],
                     rating=[4.0, 2.5, 5.0])
    assert_frame_equal(data.events, expected)
    assert_frame_equal(data.items, pl.DataFrame({
        "item_id": ["10", "20"],
        "movie_title": [["The", '"Quoted",', "Film"], ["Plain"]],
        "class": [["Action", "Comedy"], []],
        "scores": [[0.5, 1.0], []],
    }))
    assert_frame_equal(data.users, pl.DataFrame({"user_id": ["1", "2"], "age": ["24", "53"], "gender": ["M", "F"]}))
    assert data.name.endswith("toy.inter")


def test_atomic_inter_file_reads_siblings_and_single_inter_in_folder(tmp_path):
    folder = atomic_set(tmp_path)
    data = read_atomic(folder / "toy.inter")
    assert data.items is not None and data.users is not None and data.num_events == 3
    (folder / "toy.inter").rename(folder / "other.inter")  # folder name no longer matches: the lone .inter is used
    data = read_atomic(folder)
    assert data.num_events == 3 and data.items is None and data.users is None


def test_atomic_header_without_types(tmp_path):
    path = write(tmp_path / "x.inter", "user_id:token\titem_id\ttimestamp:float\n1\t2\t3\n")
    expect_error(FormatError, lambda: read_atomic(path), file=path, column="item_id")
    unknown = write(tmp_path / "y.inter", "user_id:token\titem_id:int\ttimestamp:float\n1\t2\t3\n")
    expect_error(FormatError, lambda: read_atomic(unknown), file=unknown, column="item_id:int")


def test_atomic_missing_ids_and_bad_floats(tmp_path):
    path = write(tmp_path / "x.inter", "uid:token\titem_id:token\ttimestamp:float\n1\t2\t3\n4\t5\t6\n")
    expect_error(SchemaError, lambda: read_atomic(path), file=path, column="user_id", rows=2)
    floats = write(tmp_path / "f.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                   "1\t2\tgood\t3\n1\t2\t4\t5\n1\t3\tbad\t6\n")
    expect_error(SchemaError, lambda: read_atomic(floats), file=floats, column="rating", rows=2)


def test_atomic_ragged_and_empty(tmp_path):
    ragged = write(tmp_path / "r.inter", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n1\t2\t3\t4\n")
    expect_error(FormatError, lambda: read_atomic(ragged), file=ragged, rows=1)
    empty = write(tmp_path / "e.inter", "user_id:token\titem_id:token\ttimestamp:float\n")
    expect_error(EmptyDataError, lambda: read_atomic(empty), file=empty, rows=0)


def test_atomic_feature_table_needs_its_key(tmp_path):
    folder = atomic_set(tmp_path)
    item = write(folder / "toy.item", "iid:token\ttitle:token_seq\n10\tA\n")
    expect_error(SchemaError, lambda: read_atomic(folder), file=item, column="item_id", rows=1)


# -------------------------------------------------------------------------------------------- read_sasrec_txt


def test_sasrec_line_order_becomes_timestamps(tmp_path):
    path = write(tmp_path / "Toy.txt", "1 5\n1 3\n2 5\n1\t9\n2   1\n")
    expected = frame(user_id=["1", "1", "2", "1", "2"], item_id=["5", "3", "5", "9", "1"], timestamp=[0, 1, 2, 3, 4])
    assert_frame_equal(read_sasrec_txt(path).events, expected)


def test_sasrec_wrong_field_counts(tmp_path):
    path = write(tmp_path / "bad.txt", "1 5\n1 3 7\n2 5\n2 6 8\n3\n")
    message = expect_error(FormatError, lambda: read_sasrec_txt(path), file=path, rows=3)
    assert "line 2" in message and "1 3 7" in message
    blank = write(tmp_path / "blank.txt", "1 5\n\n2 5\n")
    expect_error(FormatError, lambda: read_sasrec_txt(blank), file=blank, rows=1)


def test_sasrec_empty_and_binary(tmp_path):
    empty = write(tmp_path / "empty.txt", "")
    expect_error(EmptyDataError, lambda: read_sasrec_txt(empty), file=empty, rows=0)
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"1 2\n\x00\x01\x02\n")
    expect_error(FormatError, lambda: read_sasrec_txt(binary), file=binary)


# ------------------------------------------------------------------------------------------------- real data


def test_ml100k(shared_data):
    data = read_atomic(shared_data / "ml-100k")
    assert (data.num_events, data.num_users, data.num_items) == (100_000, 943, 1_682)
    assert data.events.schema == pl.Schema({"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64,
                                            "rating": pl.Float64})
    counts = data.events.get_column("rating").value_counts().sort("rating").get_column("count").to_list()
    assert counts == [6_110, 11_370, 27_145, 34_174, 21_201]
    assert data.items.height == 1_682 and data.users.height == 943
    assert data.items.schema["class"] == pl.List(pl.String)
    assert {"movie_title", "release_year", "class"} <= set(data.items.columns)
    assert data.users.columns == ["user_id", "age", "gender", "occupation", "zip_code"]
    assert data.items.filter(pl.col("item_id") == "1").item(0, "class").to_list() == ["Animation", "Children's", "Comedy"]


def test_games(shared_data):
    path = shared_data / "amazon-games" / "Video.txt"
    read_sasrec_txt(path)  # warm up
    start = time.perf_counter()
    data = read_sasrec_txt(path)
    elapsed = time.perf_counter() - start
    assert (data.num_events, data.num_users, data.num_items) == (287_107, 31_013, 23_715)
    assert data.events.get_column("timestamp").to_list()[:3] == [0, 1, 2]
    assert data.events.row(0) == ("1", "6393", 0)
    assert elapsed < 1.0, f"reading Games took {elapsed:.2f}s"


def test_each_timestamp_layout_alone(tmp_path):
    """Every parser also works when it is the only layout in the column (the parsers stop early)."""
    moment = 1577934245
    cases = {"1577934245": moment, "1577934245.2": moment, "2020-01-02T03:04:05": moment,
             "2020-01-02 03:04:05": moment, "2020-01-02T03:04:05.25": moment, "2020-01-02T03:04": moment - 5,
             "2020-01-02T03:04:05Z": moment, "2020-01-02 03:04:05+01:00": moment - 3600, "2020-01-02": 1577923200}
    for i, (text, expected) in enumerate(cases.items()):
        path = write(tmp_path / f"t{i}.csv", f"user_id,item_id,timestamp\nu,i,{text}\nu,j,\n")
        with pytest.raises(SchemaError, match="rows=1"):  # the null row
            read_events(path)
        path = write(tmp_path / f"u{i}.csv", f"user_id,item_id,timestamp\nu,i,{text}\n")
        assert read_events(path).events.item(0, "timestamp") == expected, text


# ------------------------------------------------------------------------------------------ parquet shards


def _shard(path: Path, **columns) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(columns).write_parquet(path)


def test_shards_in_hive_folders_read_lazily_in_path_order(tmp_path):
    _shard(tmp_path / "event=view" / "part-0.parquet", uid=["a", "b"], item_id=[1, 2], timestamp=[5, 6])
    _shard(tmp_path / "event=cart" / "part-0.parquet", uid=["a"], item_id=[3], timestamp=[7])
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "event=cart" / ".part-0.parquet.crc").write_text("x")
    lazy = scan_event_shards(tmp_path, {"uid": "user_id"})
    assert isinstance(lazy, pl.LazyFrame)
    frame = lazy.collect()
    assert frame.columns == ["user_id", "item_id", "timestamp", "event"]
    assert frame.rows() == [("a", "3", 7, "cart"), ("a", "1", 5, "view"), ("b", "2", 6, "view")]


def test_shard_schema_errors_name_the_shard(tmp_path):
    _shard(tmp_path / "part-0.parquet", user_id=["a"], item_id=["x"], timestamp=[1])
    _shard(tmp_path / "part-1.parquet", user_id=["a"], item_id=["x"], ts=[2])
    with pytest.raises(SchemaError, match="part-1.parquet") as missing:
        scan_event_shards(tmp_path)
    assert missing.value.column == "timestamp" and missing.value.source.endswith("part-1.parquet")
    _shard(tmp_path / "part-1.parquet", user_id=["a"], item_id=["x"], timestamp=["2"])
    with pytest.raises(SchemaError, match="String here but Int64") as mixed:
        scan_event_shards(tmp_path)
    assert mixed.value.source.endswith("part-1.parquet")
    _shard(tmp_path / "part-1.parquet", user_id=["a"], item_id=["x"], timestamp=[2])
    (tmp_path / "part-2.parquet").write_text("user_id,item_id,timestamp\n")
    with pytest.raises(FormatError) as not_parquet:
        scan_event_shards(tmp_path)
    assert not_parquet.value.source.endswith("part-2.parquet")


def test_null_ids_in_shards_and_empty_folders(tmp_path):
    _shard(tmp_path / "log" / "part-0.parquet", user_id=["a", None], item_id=["x", "y"], timestamp=[1, 2])
    with pytest.raises(SchemaError) as nulls:
        scan_event_shards(tmp_path / "log")
    assert nulls.value.column == "user_id" and nulls.value.rows == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDataError):
        scan_event_shards(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        scan_event_shards(tmp_path / "absent")
