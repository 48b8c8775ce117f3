import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell.data.splits import (
    HELD_OUT,
    TEST,
    TRAIN,
    VALIDATION,
    LeakageError,
    Split,
    check_no_leakage,
    held_out_users,
    leave_last_session_out,
    leave_one_out,
    temporal_split,
)

# user a: 4 events, b: 3 events, c: 2 events (too short for leave-one-out targets)
TINY = pl.DataFrame({
    "user_id": list("aaaabbbcc"),
    "item_id": list("wxyzwxywz"),
    "timestamp": [1, 2, 3, 4, 1, 5, 9, 2, 3],
})


def parts(split: Split) -> dict[str, list[int]]:
    return {
        user: group.sort("position").get_column("part").to_list()
        for (user,), group in split.events.group_by("user_id")
    }


def test_leave_one_out_by_eye():
    split = leave_one_out(TINY)
    assert parts(split) == {"a": [0, 0, 1, 2], "b": [0, 1, 2], "c": [0, 0]}
    train, validation, test = split
    assert train.height == 5
    assert validation.get_column("item_id").to_list() == ["y", "x"]
    assert test.get_column("item_id").to_list() == ["z", "y"]
    check_no_leakage(split)


def test_history_of_a_target_is_everything_before_it():
    split = leave_one_out(TINY)
    history = split.history(split.test.filter(pl.col("user_id") == "a"))
    assert history.get_column("item_id").to_list() == ["w", "x", "y"]


def test_temporal_split_first_target_after_cutoff():
    split = temporal_split(TINY, cutoff=4)
    # a: events at 1,2,3 before the cutoff (3 = last one -> validation), 4 -> test
    # b: 1 before (too short for validation: no earlier history), 5 -> test, 9 -> held out
    # c: 2, 3 before -> validation is 3
    assert parts(split) == {"a": [0, 0, 1, 2], "b": [0, 2, HELD_OUT], "c": [0, 1]}
    assert split.cutoff == 4
    assert split.train.get_column("timestamp").max() < 4
    check_no_leakage(split)


def test_temporal_split_all_targets_and_validation_window():
    split = temporal_split(TINY, cutoff=4, validation_cutoff=3, targets="all")
    assert parts(split) == {"a": [0, 0, 1, 2], "b": [0, 2, 2], "c": [0, 1]}
    check_no_leakage(split)


def test_temporal_cutoff_as_quantile():
    split = temporal_split(TINY, cutoff=0.5)
    assert split.cutoff == 3  # median of [1, 1, 2, 2, 3, 3, 4, 5, 9]
    check_no_leakage(split)


def test_leave_last_session_out():
    frame = pl.DataFrame({
        "user_id": ["a"] * 6 + ["b"] * 2,
        "item_id": ["p", "q", "r", "s", "t", "u", "p", "q"],
        "timestamp": [0, 10, 5000, 5010, 10000, 10010, 0, 9000],
    })
    split = leave_last_session_out(frame, gap_seconds=1800)
    assert parts(split) == {"a": [0, 0, 1, 1, 2, 2], "b": [0, 0]}
    assert split.test.get_column("item_id").to_list() == ["t", "u"]
    check_no_leakage(split)


def test_leakage_detected_when_a_target_precedes_training():
    split = leave_one_out(TINY)
    broken = split.events.with_columns(
        pl.when((pl.col("user_id") == "a") & (pl.col("position") == 0)).then(TEST).otherwise(pl.col("part"))
        .cast(pl.Int8).alias("part")
    )
    with pytest.raises(LeakageError, match="1 user"):
        check_no_leakage(Split(broken, "leave_one_out"))


def test_leakage_detected_past_cutoff():
    split = temporal_split(TINY, cutoff=4)
    broken = split.events.with_columns(pl.lit(TRAIN, pl.Int8).alias("part"))
    with pytest.raises(LeakageError, match="cutoff"):
        check_no_leakage(Split(broken, "temporal", cutoff=4))


logs = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 15), st.integers(0, 50)), min_size=1, max_size=80
).map(lambda rows: pl.DataFrame(
    {"user_id": [f"u{r[0]}" for r in rows], "item_id": [f"i{r[1]}" for r in rows],
     "timestamp": [r[2] for r in rows]},
    schema={"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64},
))


def assert_no_leak(split: Split) -> None:
    check_no_leakage(split)
    ev = split.events
    assert ev.height == split.train.height + split.validation.height + split.test.height + \
        ev.filter(pl.col("part") == HELD_OUT).height
    for (_user,), group in ev.group_by("user_id"):
        group = group.sort("position")
        times = group.get_column("timestamp").to_list()
        assert times == sorted(times)
        p = group.get_column("part").to_list()
        targets = [i for i, x in enumerate(p) if x in (VALIDATION, TEST, HELD_OUT)]
        trains = [i for i, x in enumerate(p) if x == TRAIN]
        if targets and trains:
            assert max(trains) < min(targets)
            assert times[max(trains)] <= times[min(targets)]


@settings(max_examples=60, deadline=None)
@given(logs)
def test_property_leave_one_out_never_leaks(frame):
    split = leave_one_out(frame)
    assert_no_leak(split)
    counts = frame.group_by("user_id").len()
    assert split.test.height == counts.filter(pl.col("len") >= 3).height


@settings(max_examples=60, deadline=None)
@given(logs, st.integers(1, 50), st.sampled_from(["first", "all"]))
def test_property_temporal_never_leaks(frame, cutoff, targets):
    split = temporal_split(frame, cutoff=cutoff, targets=targets)
    assert_no_leak(split)
    assert (split.train.get_column("timestamp") < cutoff).all()
    assert (split.test.get_column("timestamp") >= cutoff).all()


@settings(max_examples=60, deadline=None)
@given(logs, st.integers(1, 20))
def test_property_last_session_never_leaks(frame, gap):
    assert_no_leak(leave_last_session_out(frame, gap_seconds=gap))


# Users by first event: p (t=1), q (2), r (3), s (4), t (5); with fraction 0.2 one test user (t), one
# validation user (s), three training users (p, q, r) whose items are a, b, c, d.
SESSIONS = pl.DataFrame({
    "user_id": list("pppqqrrsssstt"),
    "item_id": list("abcabdcaebdca"),
    "timestamp": [1, 6, 7, 2, 8, 3, 9, 4, 10, 11, 12, 5, 13],
})


def test_held_out_users_by_eye():
    split = held_out_users(SESSIONS, fraction=0.2)
    # s's "e" (no training event has it) is dropped from its history and targets; the first remaining
    # event of a held-out user is history only, every later one a target
    assert parts(split) == {"p": [0, 0, 0], "q": [0, 0], "r": [0, 0], "s": [3, 1, 1], "t": [3, 2]}
    assert split.validation.get_column("item_id").to_list() == ["b", "d"]
    assert split.test.get_column("item_id").to_list() == ["a"]
    assert split.train.height == 7
    # the history of s's last target is its two earlier remaining events
    last = split.validation.filter(pl.col("item_id") == "d")
    assert split.history(last).get_column("item_id").to_list() == ["a", "b"]
    check_no_leakage(split)


def test_held_out_users_can_keep_unseen_items():
    split = held_out_users(SESSIONS, fraction=0.2, drop_unseen_items=False)
    assert parts(split)["s"] == [3, 1, 1, 1]
    assert split.validation.get_column("item_id").to_list() == ["e", "b", "d"]


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.05])
def test_held_out_users_rejects_fractions_that_leave_a_part_empty(fraction):
    with pytest.raises(ValueError, match="held_out_users"):
        held_out_users(SESSIONS, fraction=fraction)
