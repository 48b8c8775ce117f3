"""Shop-simulator benchmark (issue 8): 1e5 simulated sessions per policy, single-threaded. Target: the simulator
(customers' answers + KPIs with intervals) under 60 s; the policy's own scoring time is reported beside it.

Steps, each timed on its own: build the synthetic shop and its world (``ShopWorld.from_shop``), draw the
sessions (``sample_sessions``), and for each policy the offers (``policy.recommend``, k=3), the customers'
answers (``ResponseModel.simulate``) and the KPIs with bootstrap intervals (``session_kpis``, 1000 resamples).
The model policy is an *untrained* SASRec (64-d, 2 layers) scoring the full catalog through
``ScoreFunctionPolicy``: its speed is that of a trained one; its KPIs are those of a random model and are
not reported as results.

Usage::

    python benchmarks/simulation.py [--sessions 100000] [--events 200000] [--out benchmarks/results/simulation.json]

Writes the JSON results, rewrites the block between ``<!-- simulation:start -->`` and ``<!-- simulation:end -->``
in ``docs/notes/benchmarks.md`` and prints the table.
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
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, markers, update_doc  # noqa: E402

from xsell.data.synthetic import synthetic_shop  # noqa: E402
from xsell.data.vocabulary import Vocabulary  # noqa: E402
from xsell.models import SASRec  # noqa: E402
from xsell.simulation import (  # noqa: E402
    AffinityOracle,
    NoRecommendation,
    ResponseModel,
    ScoreFunctionPolicy,
    ShopWorld,
    StaticScorePolicy,
    sample_sessions,
    session_kpis,
)

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "simulation.json"
SECTION = "simulation"
TITLE = "## Shop simulator (issue 8)"
TARGET_SECONDS = 60.0
K = 3


def run(sessions_n: int, events: int, seed: int) -> dict[str, Any]:
    """Time every step; returns the per-step seconds and the KPIs of the non-model policies."""
    timings: dict[str, float] = {}

    def timed(name: str, call):
        start = time.perf_counter()
        value = call()
        timings[name] = time.perf_counter() - start
        return value

    shop = timed("synthetic_shop", lambda: synthetic_shop(events, seed=seed))
    world = timed("world", lambda: ShopWorld.from_shop(shop))
    sessions = timed("sample_sessions", lambda: sample_sessions(shop, world, sessions_n, seed=seed + 1))
    vocabulary = Vocabulary(world.item_ids.tolist(), name="item_id")
    torch.manual_seed(seed)
    model = SASRec(len(vocabulary), dim=64, layers=2, heads=2, max_len=20).eval()
    popularity = np.bincount(world.item_index(shop.events["item_id"]), minlength=world.num_items)
    policies = {"no_recommendation": NoRecommendation(), "popularity": StaticScorePolicy(popularity),
                "oracle": AffinityOracle(world), "sasrec_untrained": ScoreFunctionPolicy(model.score, vocabulary, world)}
    response = ResponseModel()
    control = None
    per_policy = {}
    for name, policy in policies.items():
        offers = timed(f"{name}/recommend", lambda policy=policy: policy.recommend(sessions, K))
        outcomes = timed(f"{name}/simulate",
                         lambda offers=offers: response.simulate(world, sessions, offers, seed=seed + 2))
        control = outcomes if control is None else control
        kpis = timed(f"{name}/kpis",
                     lambda outcomes=outcomes, control=control: session_kpis(outcomes, control=control, seed=seed))
        total = sum(v for key, v in timings.items() if key.startswith(f"{name}/"))
        simulator = timings[f"{name}/simulate"] + timings[f"{name}/kpis"]
        per_policy[name] = {"seconds": total, "simulator_seconds": simulator, "sessions_per_second": sessions_n / total,
                            "kpis": None if name == "sasrec_untrained" else kpis.to_dicts()}
    return {"sessions": sessions_n, "events": events, "items": world.num_items, "k": K, "seed": seed,
            "threads": torch.get_num_threads(), "timings": timings, "policies": per_policy,
            "target_seconds": TARGET_SECONDS,
            "within_target": all(p["simulator_seconds"] < TARGET_SECONDS for p in per_policy.values())}


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    m = results["machine"]
    t = results["timings"]
    lines = [
        start, "",
        f"{results['sessions']:,} sessions drawn at the cart events of `synthetic_shop({results['events']:,})` "
        f"({results['items']:,} items), top-{results['k']} offers per session, one thread. *Offers* is the policy "
        "scoring the full catalog for every session (the model's cost, not the simulator's); *simulator* is the "
        "customers' answers plus the KPIs with 1000-resample bootstrap intervals, the part with the 60 s target; "
        "*total* is both. The SASRec (64-d, 2 layers, 20-item histories) is untrained: a speed measurement only. "
        "The machine is shared, so the load average matters. Generated by `benchmarks/simulation.py`.", "",
        f"- Command: `{results['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, load average at start "
        f"{m['load_average_at_start']}; {m['os']}",
        f"- Versions: Python {m['python']}, numpy {m['numpy']}, polars {m['polars']}, torch {m['torch']}; "
        f"xsell {m['xsell_commit']} (modified: {m['xsell_modified']}); date {results['date']}",
        f"- Setup: shop {t['synthetic_shop']:.2f} s, world {t['world']:.2f} s, "
        f"sessions {t['sample_sessions']:.2f} s", "",
        "| policy | offers (s) | answers (s) | KPIs (s) | simulator (s) | simulator < 60 s | total (s) | "
        "sessions / s (total) |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, p in results["policies"].items():
        lines.append(f"| {name} | {t[name + '/recommend']:.2f} | {t[name + '/simulate']:.2f} | "
                     f"{t[name + '/kpis']:.2f} | {p['simulator_seconds']:.2f} | "
                     f"{'yes' if p['simulator_seconds'] < TARGET_SECONDS else 'NO'} | {p['seconds']:.2f} | "
                     f"{p['sessions_per_second']:,.0f} |")
    lines += ["", "KPIs (95% bootstrap intervals) of the reference policies on these sessions:", "",
              "| policy | conversion | CTR | AOV | revenue / session | incremental revenue | abandonment | "
              "satisfaction |", "|---|---|---|---|---|---|---|---|"]
    order = ("cross_sell_conversion", "click_through", "average_order_value", "revenue_per_session",
             "incremental_revenue", "cart_abandonment", "survey_satisfaction")
    for name, p in results["policies"].items():
        if p["kpis"] is None:
            continue
        rows = {row["kpi"]: row for row in p["kpis"]}
        cells = [f"{rows[k]['estimate']:.4g} [{rows[k]['low']:.4g}, {rows[k]['high']:.4g}]" for k in order]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/notes/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine = machine_info()
    results = run(args.sessions, args.events, args.seed)
    results.update(machine=machine, command="python " + shlex.join(sys.argv),
                   date=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from xsell.atomic import write_json_atomic

    write_json_atomic(args.out, results)
    block = render(results)
    if not args.no_doc:
        update_doc(SECTION, TITLE, block)
    print(block)


if __name__ == "__main__":
    main()
