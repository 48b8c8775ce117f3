"""xsell's IPS / SNIPS / DR against the Open Bandit Pipeline's estimators on the same synthetic impression log.

The log: ``--rounds`` impressions over ``--actions`` actions in 3 slots, a 5-d context per round; the logging
policy draws each slot from a softmax over a linear score (its probability is the ``pscore``); rewards are
Bernoulli with a position bias. Two target policies from another linear score: the deterministic top 3
(``top_k_policy``) and a softmax per slot (``softmax_policy``, temperature 0.5); the reward model of DR is
``mean_reward_by_action``. xsell estimates from the :class:`~xsell.offpolicy.ImpressionLog`; obp's
``OffPolicyEvaluation`` reads ``log.to_obp_dict()`` and the same action distributions and reward predictions.
The estimates must agree to float tolerance (relative 1e-9).

obp is not a dependency of xsell. ``pip install obp`` fails on Python 3.11 (obp 0.5.7 declares
``python_requires <3.11``; pip falls back to obp 0.5.5, whose PyYAML 5.4.1 pin does not build), so the
comparison is run with obp 0.5.7 installed beside the project's own numpy / scikit-learn::

    python -m venv --system-site-packages /tmp/obpvenv
    /tmp/obpvenv/bin/pip install scikit-learn pandas seaborn
    /tmp/obpvenv/bin/pip install --no-deps --ignore-requires-python obp==0.5.7
    PYTHONPATH=$PWD /tmp/obpvenv/bin/python benchmarks/offpolicy_obp.py

Without obp importable the script says so, records why in the results JSON and exits 0.
Writes ``benchmarks/results/offpolicy_obp.json`` and the ``offpolicy_obp`` block of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, markers, package_version, update_doc  # noqa: E402

from xsell.atomic import write_json_atomic  # noqa: E402
from xsell.offpolicy import (  # noqa: E402
    ImpressionLog,
    doubly_robust,
    ips,
    mean_reward_by_action,
    snips,
    softmax_policy,
    softmax_probabilities,
    top_k_policy,
)

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "offpolicy_obp.json"
SECTION = "offpolicy_obp"
TITLE = "## Off-policy estimators against the Open Bandit Pipeline"
POSITIONS = 3
CONTEXT_DIM = 5
TOLERANCE = 1e-9
PIP_FAILURE = ("`pip install obp` fails on Python 3.11: obp 0.5.7 requires Python <3.11 and pip falls back to "
               "obp 0.5.5, whose PyYAML<6 pin (5.4.1) fails to build ('build_ext' object has no attribute "
               "'cython_sources')")
WORKAROUND = ("obp 0.5.7 was installed with --no-deps --ignore-requires-python into a venv with the project's numpy "
              "and a current scikit-learn/pandas (see this script's docstring)")


def synthetic_log(rounds: int, actions: int, seed: int) -> tuple[ImpressionLog, np.ndarray]:
    """The logged impressions and the target's ``[n, A]`` scores (see the module docstring)."""
    rng = np.random.default_rng(seed)
    context = rng.normal(size=(rounds, CONTEXT_DIM))  # [n, c]
    logging_weights, target_weights, reward_weights = (rng.normal(size=(CONTEXT_DIM, actions)) for _ in range(3))
    logging = softmax_probabilities(context @ logging_weights)  # [n, A] the same draw per slot
    cumulative = np.cumsum(logging, axis=1)
    draws = rng.random((rounds, POSITIONS))
    action = np.minimum((draws[:, :, None] >= cumulative[:, None, :]).sum(axis=2), actions - 1)  # [n, P]
    click = 1.0 / (1.0 + np.exp(-(context @ reward_weights)))  # [n, A]
    bias = 1.0 / np.log2(np.arange(POSITIONS) + 2.0)  # [P]
    reward = rng.random((rounds, POSITIONS)) < click[np.arange(rounds)[:, None], action] * bias
    rows = np.repeat(np.arange(rounds), POSITIONS)
    frame = pl.DataFrame({
        "session_id": rows, "action": action.reshape(-1), "position": np.tile(np.arange(POSITIONS), rounds),
        "reward": reward.reshape(-1).astype(np.float64), "pscore": logging[rows, action.reshape(-1)],
        **{f"context_{j}": context[rows, j] for j in range(CONTEXT_DIM)},
    })
    return ImpressionLog(frame, n_actions=actions, source="synthetic"), (context @ target_weights)[rows]


def xsell_estimates(log: ImpressionLog, target: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"ipw": ips(log, target, n_resamples=1).estimate, "snipw": snips(log, target, n_resamples=1).estimate,
            "dr": doubly_robust(log, target, predicted, n_resamples=1).estimate}


def obp_estimates(log: ImpressionLog, target: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from obp.ope import DoublyRobust, InverseProbabilityWeighting, OffPolicyEvaluation
    from obp.ope import SelfNormalizedInverseProbabilityWeighting as SNIPW

    evaluation = OffPolicyEvaluation(bandit_feedback=log.to_obp_dict(),
                                     ope_estimators=[InverseProbabilityWeighting(), SNIPW(), DoublyRobust()])
    values = evaluation.estimate_policy_values(action_dist=target, estimated_rewards_by_reg_model=predicted)
    return {name: float(value) for name, value in values.items()}


def run(rounds: int, actions: int, seed: int) -> dict[str, Any]:
    log, scores = synthetic_log(rounds, actions, seed)
    targets = {"top_3": top_k_policy(scores, POSITIONS), "softmax_t0.5": softmax_policy(scores, 0.5, POSITIONS)}
    predicted = np.broadcast_to(mean_reward_by_action(log)[None, :, None],
                                (len(log), actions, POSITIONS)).copy()  # [n, A, P]
    results: dict[str, Any] = {"rounds": rounds, "impressions": len(log), "actions": actions, "positions": POSITIONS, "seed": seed,
                               "tolerance_relative": TOLERANCE, "targets": {}}
    try:
        import obp
        results["obp"] = obp.__version__
    except Exception as exc:  # noqa: BLE001 - any failure to import is the answer recorded
        results.update(obp=None, obp_unavailable=f"{type(exc).__name__}: {exc}")
    for name, target in targets.items():
        start = time.perf_counter()
        ours = xsell_estimates(log, target, predicted)
        row: dict[str, Any] = {"xsell": ours, "xsell_seconds": time.perf_counter() - start}
        if results["obp"] is not None:
            start = time.perf_counter()
            theirs = obp_estimates(log, target, predicted)
            row.update(obp=theirs, obp_seconds=time.perf_counter() - start,
                       max_relative_difference=max(abs(ours[k] - theirs[k]) / max(abs(theirs[k]), 1e-300)
                                                   for k in ours))
        results["targets"][name] = row
    if results["obp"] is not None:
        results["equal"] = all(r["max_relative_difference"] <= TOLERANCE for r in results["targets"].values())
    return results


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    machine = results["machine"]
    lines = [start, "", f"- Command: `{results['command']}`",
             f"- Machine: {machine['cpu']} ({machine['cores']} cores), Python {machine['python']}, numpy "
             f"{machine['numpy']}, scikit-learn {results['versions']['scikit-learn']}, obp {results['obp']}; "
             f"{results['date']}",
             f"- Log: {results['impressions']:,} impressions ({results['rounds']:,} rounds x "
             f"{results['positions']} slots), {results['actions']} actions, seed {results['seed']}", ""]
    if results["obp"] is None:
        lines += [f"obp could not be imported ({results['obp_unavailable']}), so only xsell's estimates were "
                  f"computed. {PIP_FAILURE}; this script's docstring shows how the comparison can be run.", "", end]
        return "\n".join(lines)
    lines += [f"obp install: {results['obp_install']}.", "",
              "| target | estimator | xsell | obp | relative difference |", "|---|---|---:|---:|---:|"]
    for name, row in results["targets"].items():
        for estimator, value in row["xsell"].items():
            theirs = row["obp"][estimator]
            lines.append(f"| {name} | {estimator} | {value:.10f} | {theirs:.10f} | "
                         f"{abs(value - theirs) / max(abs(theirs), 1e-300):.1e} |")
    lines += ["", f"Equal to relative {results['tolerance_relative']:g}: **{results['equal']}**.", "", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    parser.add_argument("--actions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    results = run(args.rounds, args.actions, args.seed)
    if results["obp"] is None:
        print(f"obp is not importable here ({results['obp_unavailable']}): only xsell's estimates are recorded. "
              "See this script's docstring for how the comparison was run.", file=sys.stderr)
    results.update(machine=machine_info(), command=shlex.join([sys.executable, *sys.argv]),
                   obp_install=PIP_FAILURE + (f"; {WORKAROUND}" if results["obp"] else ""),
                   versions={p: package_version(p) for p in ("obp", "scikit-learn", "scipy", "pandas")},
                   date=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_json_atomic(args.out, results)
    block = render(results)
    if not args.no_doc:
        update_doc(SECTION, TITLE, block)
    print(block)


if __name__ == "__main__":
    main()
