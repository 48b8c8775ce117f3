"""Bandits that learn from an impression log instead of live traffic.

Two ways, both over :class:`~xsell.offpolicy.impressions.ImpressionLog` rows in table order (sort it by
``timestamp`` first if time matters) and ``[n, n_actions, d]`` features of every (round, action) pair:

- :func:`learn_from_log`: fit on the logged rows: each round updates the agent with the shown action's
  features and its reward (a ridge regression of reward on the features of what was shown). No exploration
  is needed, but the fit only knows the actions the logging policy showed.
- :func:`replay`: the replay method (Li, Chu, Langford & Wang 2011): the agent chooses in every round and
  learns only from rounds where its choice equals the logged action; the mean reward of those rounds
  estimates its online value without bias when the log was collected by uniformly random actions.

:func:`context_action_features` builds features from the table's ``context_*`` columns: each action its own
linear model of the context (disjoint LinUCB as one shared model).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from xsell.bandits.online import Agent
from xsell.offpolicy.impressions import ImpressionLog


def context_action_features(context: np.ndarray, n_actions: int) -> np.ndarray:
    """``[n, A, A * (c + 1)]``: row ``i``'s ``[context_i, 1]`` in action ``a``'s block, zeros elsewhere."""
    context = np.concatenate([np.asarray(context, dtype=np.float64), np.ones((len(context), 1))], axis=1)  # [n, c+1]
    eye = np.eye(n_actions)  # [A, A]
    return (eye[None, :, :, None] * context[:, None, None, :]).reshape(len(context), n_actions, -1)


def _check(log: ImpressionLog, features: np.ndarray, rounds: int) -> None:
    if features.shape[:2] != (len(log), log.n_actions):
        raise ValueError(f"features {features.shape[:2]} must be [rounds, actions] = [{len(log)}, {log.n_actions}]")
    if not 1 <= rounds <= len(log):
        raise ValueError(f"rounds must lie in [1, {len(log)}], got {rounds}")


def learn_from_log(agent: Agent, log: ImpressionLog, features: np.ndarray, *, rounds: int = 1) -> Agent:
    """Update ``agent`` with the logged actions' ``[n, d]`` features and rewards, in ``rounds`` batches."""
    _check(log, features, rounds)
    shown = features[np.arange(len(log)), log.action]  # [n, d]
    for part in np.array_split(np.arange(len(log)), rounds):
        agent.update(shown[part], log.reward[part])
    return agent


def replay(agent: Agent, log: ImpressionLog, features: np.ndarray, *, rounds: int) -> pl.DataFrame:
    """Replay the log against ``agent`` in ``rounds`` batches; one row per batch: ``round``, ``rows``,
    ``matched`` (rounds where the agent chose the logged action), ``reward`` (their mean reward, NaN when none)
    and the running ``replay_value`` (mean reward of all matched rounds so far)."""
    _check(log, features, rounds)
    available = np.ones((len(log), log.n_actions), dtype=bool)
    rows = []
    for r, part in enumerate(np.array_split(np.arange(len(log)), rounds)):
        choice = agent.choose(features[part], available[part])  # [m]
        matched = part[choice == log.action[part]]
        agent.update(features[matched, log.action[matched]], log.reward[matched])
        rows.append({"round": r, "rows": part.size, "matched": matched.size,
                     "reward_sum": float(log.reward[matched].sum())})
    frame = pl.DataFrame(rows)
    return frame.select(
        "round", "rows", "matched",
        (pl.col("reward_sum") / pl.col("matched")).alias("reward"),
        (pl.col("reward_sum").cum_sum() / pl.col("matched").cum_sum()).alias("replay_value"),
    )
