"""The impression table: schema checks, parquet/CSV round trips, obp's dict, and known IPS/SNIPS/DR values."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from xsell.errors import EmptyDataError, FormatError, SchemaError
from xsell.offpolicy import ImpressionLog, doubly_robust, ips, mean_reward_by_action, read_impressions, snips

from .impressions import tiny_frame

TARGET = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # pi(a_i) = 1, 0, 0, 1 -> w = 2, 0, 0, 5


@pytest.mark.parametrize(("change", "error", "message"), [
    (lambda f: f.drop("pscore"), SchemaError,
     "missing column (required: action, reward, pscore) | source=shop.csv | column='pscore'"),
    (lambda f: f.with_columns(pl.Series("action", [0, None, None, 1])), SchemaError,
     "null values | source=shop.csv | column='action' | rows=2"),
    (lambda f: f.with_columns(pl.Series("pscore", [0.0, 0.5, 1.5, 0.2])), SchemaError,
     "pscore (logging propensity) must lie in (0, 1] | source=shop.csv | column='pscore' | rows=2"),
    (lambda f: f.with_columns(pl.Series("action", [0, -1, 0, 1])), SchemaError,
     "action must be >= 0 | source=shop.csv | column='action' | rows=1"),
    (lambda f: f.with_columns(pl.Series("action", [0.0, 1.5, 0.0, 1.0])), SchemaError,
     "must hold whole numbers | source=shop.csv | column='action' | rows=1"),
    (lambda f: f.with_columns(pl.Series("reward", [1.0, np.inf, 0.0, np.nan])), SchemaError,
     "reward must be finite | source=shop.csv | column='reward' | rows=2"),
    (lambda f: f.with_columns(pl.Series("position", [0, 0, -2, 0])), SchemaError,
     "position must be >= 0 | source=shop.csv | column='position' | rows=1"),
    (lambda f: f.with_columns(pl.lit("x").alias("context_device")), SchemaError,
     "must be numeric, got String | source=shop.csv | column='context_device' | rows=4"),
    (lambda f: f.with_columns(pl.Series("history", ["x", "y", "z", "w"])), SchemaError,
     "history must be a list of item-id strings, got String | source=shop.csv | column='history' | rows=4"),
    (lambda f: f.head(0), EmptyDataError, "the impression log has no rows | source=shop.csv"),
])
def test_schema_errors_name_the_file_column_and_rows(change, error, message):
    with pytest.raises(error) as caught:
        ImpressionLog(change(tiny_frame()), source="shop.csv")
    assert str(caught.value) == message


def test_n_actions_and_action_context_are_checked():
    assert ImpressionLog(tiny_frame()).n_actions == 2
    with pytest.raises(SchemaError, match=r"action must lie in \[0, 1\) \(n_actions=1\) .* rows=2"):
        ImpressionLog(tiny_frame(), n_actions=1)
    with pytest.raises(SchemaError, match="action_context has 3 rows for 2 actions"):
        ImpressionLog(tiny_frame(), action_context=np.zeros((3, 4)))


def test_position_defaults_to_the_first_slot_and_boolean_rewards_are_read():
    log = ImpressionLog(tiny_frame().drop("position").with_columns(pl.col("reward").cast(pl.Boolean)))
    assert log.position.tolist() == [0, 0, 0, 0] and log.frame.schema["position"] == pl.Int64
    assert log.reward.tolist() == [1.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_through_files(tmp_path, suffix):
    log = ImpressionLog(tiny_frame(), n_actions=3)
    path = log.write(tmp_path / f"log{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"log{suffix}"]  # no temp file left behind
    back = read_impressions(path, n_actions=3)
    assert_frame_equal(back.frame, log.frame)
    assert back.n_actions == 3 and back.histories()[3] == ["x", "z", "y"] and back.histories()[2] == []


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(FormatError, match=r"impression logs are \.parquet or \.csv files, got '\.json'"):
        read_impressions(tmp_path / "log.json")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(FormatError, match="cannot read the impression log: .*bad.parquet"):
        read_impressions(tmp_path / "bad.parquet")
    frame = tiny_frame().drop("reward", "history")
    frame.write_csv(tmp_path / "shop.csv")
    with pytest.raises(SchemaError, match=f"missing column .* source={tmp_path / 'shop.csv'} .* column='reward'"):
        read_impressions(tmp_path / "shop.csv")
    spaced = tiny_frame().with_columns(pl.Series("history", [["a b"], [], [], []], dtype=pl.List(pl.String)))
    with pytest.raises(SchemaError, match="item ids with spaces .* rows=1"):
        ImpressionLog(spaced).write(tmp_path / "spaced.csv")
    assert not (tmp_path / "spaced.csv").exists()


def test_obp_dict_has_obps_keys_and_shapes():
    log = ImpressionLog(tiny_frame(), n_actions=3, action_context=np.eye(3))
    feedback = log.to_obp_dict()
    assert set(feedback) == {"n_rounds", "n_actions", "action", "position", "reward", "pscore", "context",
                             "action_context"}
    assert (feedback["n_rounds"], feedback["n_actions"]) == (4, 3)
    assert feedback["action"].tolist() == [0, 1, 0, 1] and feedback["action"].dtype == np.int64
    assert feedback["position"].tolist() == [0, 0, 0, 0] and feedback["pscore"].tolist() == [0.5, 0.5, 0.8, 0.2]
    assert feedback["context"].tolist() == [[1.0, 9.0], [0.0, 13.0], [1.0, 20.0], [0.0, 23.0]]
    assert feedback["action_context"].shape == (3, 3)
    assert "action_context" not in ImpressionLog(tiny_frame()).to_obp_dict()
    assert ImpressionLog(tiny_frame().drop("context_mobile", "context_hour")).to_obp_dict()["context"].shape == (4, 0)


def test_estimates_on_a_hand_computed_log():
    log = ImpressionLog(tiny_frame())
    assert ips(log, TARGET).estimate == pytest.approx((2 * 1 + 5 * 1) / 4)
    assert snips(log, TARGET).estimate == pytest.approx(7 / 7)
    # direct terms pi . q = 0.5, 0.5, 0.2, 0.2; corrections w (r - q[a]) = 1, 0, 0, 4
    assert doubly_robust(log, TARGET, np.array([0.5, 0.2])).estimate == pytest.approx((1.5 + 0.5 + 0.2 + 4.2) / 4)
    assert doubly_robust(log, TARGET, np.tile([0.5, 0.2], (4, 1))).estimate == pytest.approx(1.6)


def test_estimates_use_the_logged_position():
    frame = tiny_frame().with_columns(pl.Series("position", [0, 1, 1, 0]))
    log = ImpressionLog(frame)
    target = np.stack([TARGET, TARGET[:, ::-1]], axis=2)  # [4, 2, 2]: slot 1 shows the other action
    # pi(a_i, p_i) = 1, 1, 1, 1 -> w = 2, 2, 1.25, 5
    assert ips(log, target).estimate == pytest.approx((2 * 1 + 0 + 0 + 5 * 1) / 4)
    assert snips(log, target).estimate == pytest.approx(7 / (2 + 2 + 1.25 + 5))
    with pytest.raises(ValueError, match="covers 1 positions; the log has position 1"):
        ips(log, TARGET)


def test_mean_reward_by_action_shrinks_to_the_overall_mean():
    log = ImpressionLog(tiny_frame(), n_actions=3)
    assert mean_reward_by_action(log, prior_strength=2.0).tolist() == pytest.approx(
        [(1 + 2 * 0.5) / 4, (1 + 2 * 0.5) / 4, 0.5])
