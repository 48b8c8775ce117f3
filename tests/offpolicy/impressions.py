"""Hand-made impression logs shared by the off-policy and offline-bandit tests."""

from __future__ import annotations

import numpy as np
import polars as pl

from xsell.offpolicy import ImpressionLog


def tiny_frame() -> pl.DataFrame:
    """Four rounds, two actions, one slot: IPS 1.75, SNIPS 1.0, DR 1.6 for the target in the tests."""
    return pl.DataFrame({
        "session_id": ["s0", "s1", "s2", "s3"],
        "user_id": ["u0", "u1", "u0", "u2"],
        "item_id": ["a", "b", "a", None],
        "history": [["x", "y"], ["y"], [], ["x", "z", "y"]],
        "action": [0, 1, 0, 1],
        "reward": [1.0, 0.0, 0.0, 1.0],
        "pscore": [0.5, 0.5, 0.8, 0.2],
        "position": [0, 0, 0, 0],
        "context_mobile": [1.0, 0.0, 1.0, 0.0],
        "context_hour": [9.0, 13.0, 20.0, 23.0],
    }, schema_overrides={"history": pl.List(pl.String)})


def segment_log(n: int = 6000, seed: int = 0) -> ImpressionLog:
    """Uniformly random logging over 3 actions for 2 customer segments whose best action differs:
    conversion ``P[segment, action]``; one-hot segment context."""
    probability = np.array([[0.1, 0.5, 0.2], [0.4, 0.1, 0.2]])
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, 2, n)
    action = rng.integers(0, 3, n)
    reward = (rng.random(n) < probability[segment, action]).astype(np.float64)
    frame = pl.DataFrame({"action": action, "reward": reward, "pscore": np.full(n, 1 / 3),
                          "context_a": (segment == 0).astype(np.float64), "context_b": (segment == 1).astype(np.float64)})
    return ImpressionLog(frame, n_actions=3, source="segments")
