import numpy as np
import polars as pl
import pytest

from xsell.data.interactions import Interactions
from xsell.data.on_disk import PrepareOptions, ensure_prepared, open_prepared, prepare_on_disk
from xsell.data.pipeline import prepare_split
from xsell.data.readers import scan_event_shards
from xsell.data.sequences import encode_split, pack_targets, pack_training_windows
from xsell.data.splits import TEST, VALIDATION
from xsell.data.synthetic import synthetic_shop
from xsell.errors import ConfigError, FormatError, OutputError

CUTOFF = 1_710_000_000  # a time inside the synthetic shop's half year


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A shuffled log with repeated rows and tied timestamps in three shards in hive folders (``day=N``, a
    column the reader drops); returns the folder and the log in the order the shards are read."""
    events = synthetic_shop(n_events=3_000, seed=3).events.select("user_id", "item_id", "timestamp", "event")
    events = events.with_columns(pl.col("timestamp") // 600 * 600)  # ties within ten minutes
    events = pl.concat([events, events.head(200)]).sample(fraction=1.0, shuffle=True, seed=1)
    folder = tmp_path_factory.mktemp("shards")
    paths = [folder / "day=1" / "part-0.parquet", folder / "day=2" / "part-1.parquet", folder / "day=2" / "part-2.parquet"]
    for path, part in zip(paths, events.iter_slices(1_100), strict=True):
        path.parent.mkdir(exist_ok=True)
        part.write_parquet(path)
    (folder / "_SUCCESS").write_text("")  # what Spark leaves: ignored
    return folder, pl.concat([pl.read_parquet(p) for p in paths])


CASES = {
    "leave_one_out causal": (PrepareOptions(max_len=8), {}),
    "temporal cloze": (PrepareOptions(max_len=5, shift=0, split="temporal", cutoff=CUTOFF),
                       {"split": "temporal", "cutoff": CUTOFF}),
    "leave_one_out strided, duplicates kept": (PrepareOptions(max_len=6, stride=2, drop_duplicates=False),
                                               {"drop_duplicates": False}),
}


@pytest.mark.parametrize("case", CASES)
def test_prepared_arrays_equal_the_in_memory_pipeline(shards, tmp_path, case):
    folder, events = shards
    options, split_options = CASES[case]
    prepared = prepare_on_disk(scan_event_shards(folder), tmp_path / "prepared", options, chunk_events=700)
    assert prepared.manifest["counts"]["user_ranges"] > 3  # users really were prepared range by range

    log = encode_split(prepare_split(Interactions(events), **split_options))
    windows = pack_training_windows(log, options.max_len, shift=options.shift, stride=options.stride)
    assert prepared.log.item_vocab == log.item_vocab and prepared.log.user_vocab == log.user_vocab
    for name in ("user", "item", "event", "time_gap", "part", "user_start"):
        np.testing.assert_array_equal(getattr(prepared.log, name), getattr(log, name), err_msg=name)
    for name in ("items", "events", "time_gaps", "users"):
        np.testing.assert_array_equal(getattr(prepared.windows, name), getattr(windows, name), err_msg=name)
    np.testing.assert_array_equal(prepared.lengths["windows"], (windows.items != 0).sum(1))
    for got, part in ((prepared.validation, VALIDATION), (prepared.test, TEST)):
        expected = pack_targets(log, part, options.max_len)
        assert len(expected) > 0
        for name in ("items", "events", "time_gaps", "users", "target", "target_event", "seen_start", "row"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    np.testing.assert_array_equal(prepared.item_counts, log.training_item_counts())


def test_files_reopen_read_only_as_memory_maps(shards, tmp_path):
    prepare_on_disk(scan_event_shards(shards[0]), tmp_path / "prepared", PrepareOptions(max_len=4))
    reopened = open_prepared(tmp_path / "prepared")
    assert isinstance(reopened.windows.items, np.memmap) and isinstance(reopened.log.item, np.memmap)
    with pytest.raises(ValueError, match="read-only"):
        reopened.windows.items[0, 0] = 7
    assert reopened.manifest["counts"]["training_windows"] == len(reopened.windows.items)


def test_a_half_written_folder_is_refused_then_rebuilt(shards, tmp_path):
    folder = tmp_path / "prepared"
    calls = []

    def events():
        calls.append(1)
        return scan_event_shards(shards[0])

    ensure_prepared(events, folder, PrepareOptions(max_len=4))
    ensure_prepared(events, folder, PrepareOptions(max_len=4))
    assert len(calls) == 1  # the second call only opened the folder
    # A crash while writing: a temp folder beside it (removed by the next write) or a truncated array.
    (tmp_path / ".prepared.killed.tmp").mkdir()
    windows = np.load(folder / "windows_items.npy")
    np.save(folder / "windows_items.npy", windows[:-1])
    with pytest.raises(FormatError, match="windows_items.npy"):
        open_prepared(folder)
    rebuilt = ensure_prepared(events, folder, PrepareOptions(max_len=4))
    assert len(calls) == 2 and len(rebuilt.windows.items) == len(windows)
    assert not (tmp_path / ".prepared.killed.tmp").exists()
    ensure_prepared(events, folder, PrepareOptions(max_len=5))  # other options: rebuilt
    assert len(calls) == 3 and open_prepared(folder).manifest["options"]["max_len"] == 5
    (folder / "manifest.json").unlink()  # no manifest: not a prepared folder any more
    with pytest.raises(FormatError, match="not a prepared log"):
        open_prepared(folder)
    with pytest.raises(OutputError, match="not written by xsell"):
        ensure_prepared(events, folder, PrepareOptions(max_len=4))
    assert (folder / "windows_items.npy").exists()  # nothing deleted


def test_a_quantile_cutoff_is_refused():
    with pytest.raises(ConfigError, match="quantile"):
        PrepareOptions.seconds(0.9, "cutoff")
    assert PrepareOptions.seconds(CUTOFF, "cutoff") == CUTOFF


def _ensure_in_child(shards, folder, marker) -> int:
    def events():
        marker.mkdir(exist_ok=False)  # a second preparer would fail here
        return scan_event_shards(shards)

    return len(ensure_prepared(events, folder, PrepareOptions(max_len=4)).windows.items)


def test_processes_starting_together_prepare_once(shards, tmp_path):
    """What the ranks of a DDP run do: each calls ``ensure_prepared``; one prepares, the others wait and open."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        jobs = [pool.apply_async(_ensure_in_child, (shards[0], tmp_path / "prepared", tmp_path / "marker"))
                for _ in range(2)]
        sizes = [job.get(timeout=120) for job in jobs]
    assert sizes[0] == sizes[1] == len(open_prepared(tmp_path / "prepared").windows.items)
