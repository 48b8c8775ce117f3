"""Generate the numbers and plots of ``docs/simulation.md`` (single-threaded, a few minutes).

Usage::

    python docs/simulation_walkthrough.py [--events 200000] [--sessions 20000] [--seed 0] [--out DIR]

Writes ``images/simulation_*.png``, ``simulation_walkthrough.json`` and the markdown block
``simulation_walkthrough.md`` into ``--out`` (default: a new ``outputs/walkthroughs/simulation_walkthrough/<time>/``).
Tracked files are rewritten only with ``--update-docs``: ``docs/images/simulation_*.png``,
``benchmarks/results/simulation_walkthrough.json`` and the block between ``<!-- simulation_walkthrough:start -->``
and ``<!-- simulation_walkthrough:end -->`` in ``docs/simulation.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from environment import (  # noqa: E402
    machine_info,
    markers,
    update_doc,
    walkthrough_arguments,
    walkthrough_folder,
)

from xsell.abtest import compare_arms, power_two_proportions, sample_size_two_proportions  # noqa: E402
from xsell.atomic import write_json_atomic, write_text_atomic  # noqa: E402
from xsell.bandits import (  # noqa: E402
    GreedyRanking,
    LinearThompson,
    LinUCB,
    category_transition_vectors,
    offer_features,
    run_bandit,
)
from xsell.baselines import ItemKNN, Markov, MostPopular  # noqa: E402
from xsell.crosssell.catalog import ItemCatalog  # noqa: E402
from xsell.crosssell.complement import ComplementMode  # noqa: E402
from xsell.crosssell.pipeline import RulePipeline  # noqa: E402
from xsell.data.prepared import prepare  # noqa: E402
from xsell.data.synthetic import synthetic_shop  # noqa: E402
from xsell.offpolicy import (  # noqa: E402
    CategoryPairRewardModel,
    doubly_robust,
    epsilon_greedy_probabilities,
    expected_rewards,
    ips,
    log_impressions,
    policy_value,
    snips,
    softmax_probabilities,
)
from xsell.simulation import (  # noqa: E402
    AffinityOracle,
    NoRecommendation,
    RandomPolicy,
    ResponseModel,
    ScoreFunctionPolicy,
    ShopWorld,
    sample_sessions,
    session_kpis,
)
from xsell.simulation.candidates import rank_scores, top_candidates  # noqa: E402

DOC = ROOT / "docs" / "simulation.md"
IMAGES = ROOT / "docs" / "images"
OUT = ROOT / "benchmarks" / "results" / "simulation_walkthrough.json"
SECTION = "simulation_walkthrough"
K = 3


def kpi_section(world, sessions, policies, seed) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """KPIs of every policy on the same sessions (common random numbers) and each policy's offers."""
    response = ResponseModel()
    offers = {name: policy.recommend(sessions, K) for name, policy in policies.items()}
    control = response.simulate(world, sessions, offers["no_recommendation"], seed=seed)
    tables = {name: session_kpis(response.simulate(world, sessions, o, seed=seed), control=control, seed=seed)
              for name, o in offers.items()}
    return {name: table.to_dicts() for name, table in tables.items()}, offers


def plot_kpis(kpis: dict[str, Any], path: Path) -> None:
    shown = ("cross_sell_conversion", "incremental_revenue", "cart_abandonment", "survey_satisfaction")
    fig, axes = plt.subplots(1, len(shown), figsize=(15, 3.6))
    names = list(kpis)
    for ax, kpi in zip(axes, shown, strict=True):
        rows = [next(r for r in kpis[n] if r["kpi"] == kpi) for n in names]
        values = np.array([r["estimate"] for r in rows], dtype=float)
        errors = np.array([[r["estimate"] - r["low"], r["high"] - r["estimate"]] for r in rows], dtype=float).T
        ax.bar(range(len(names)), np.nan_to_num(values), yerr=np.nan_to_num(errors), capsize=3,
               color=["#999999", "#bbbbbb", "#4c72b0", "#55a868", "#dd8452", "#c44e52", "#8172b2"][: len(names)])
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_title(kpi.replace("_", " "), fontsize=10)
        ax.axhline(0, color="black", linewidth=0.5)
    fig.suptitle("Simulated KPIs per policy (95% bootstrap intervals, same sessions)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ab_section(world, sessions, offers_a, offers_b, seed, sizes, repeats) -> dict[str, Any]:
    """Repeated simulated A/B tests at several sizes: the share that is significant against analytic power."""
    response = ResponseModel()
    rng = np.random.default_rng(seed)
    rate_a = float(response.simulate(world, sessions, offers_a, seed=seed).bought.any(axis=1).mean())
    rate_b = float(response.simulate(world, sessions, offers_b, seed=seed + 1).bought.any(axis=1).mean())
    rows = []
    for n in sizes:
        significant = 0
        for r in range(repeats):
            index = rng.choice(len(sessions), size=2 * n, replace=False)
            arm_a, arm_b = index[:n], index[n:]
            a = response.simulate(world, sessions.take(arm_a), offers_a[arm_a], seed=seed + 10 * r + 2)
            b = response.simulate(world, sessions.take(arm_b), offers_b[arm_b], seed=seed + 10 * r + 3)
            with warnings.catch_warnings():  # small arms are under-powered on purpose here
                warnings.simplefilter("ignore")
                test = compare_arms(a, b, seed=r, minimum_detectable_lift=rate_b / rate_a - 1)
            significant += bool(test.tests.filter(kpi="cross_sell_conversion")["significant"][0])
        rows.append({"n_per_arm": n, "empirical_power": significant / repeats,
                     "analytic_power": power_two_proportions(rate_a, rate_b, n)})
    return {"rate_a": rate_a, "rate_b": rate_b, "required_per_arm": sample_size_two_proportions(rate_a, rate_b),
            "repeats": repeats, "rows": rows}


def plot_power(ab: dict[str, Any], path: Path) -> None:
    grid = np.linspace(50, max(r["n_per_arm"] for r in ab["rows"]) * 1.1, 200)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(grid, [power_two_proportions(ab["rate_a"], ab["rate_b"], int(n)) for n in grid], label="analytic power")
    ax.plot([r["n_per_arm"] for r in ab["rows"]], [r["empirical_power"] for r in ab["rows"]], "o",
            label=f"simulated experiments ({ab['repeats']} per size)")
    ax.axhline(0.8, color="grey", linestyle=":")
    ax.axvline(ab["required_per_arm"], color="grey", linestyle="--", label=f"n for 80%: {ab['required_per_arm']}")
    ax.set_xlabel("sessions per arm")
    ax.set_ylabel("share significant (alpha 0.05)")
    ax.set_title(f"Conversion {ab['rate_a']:.4f} vs {ab['rate_b']:.4f}: power")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ope_section(world, sessions, candidates, seed) -> dict[str, Any]:
    """Log with a softmax over the model's ranks (+ show nothing), estimate three target policies."""
    reward = "conversion"
    scores = rank_scores(candidates, nothing_score=-np.log(candidates.shape[1]))
    logging = softmax_probabilities(scores, temperature=1.0)
    logged = log_impressions(world, sessions, candidates, logging, reward=reward, seed=seed)
    reward_model = CategoryPairRewardModel(world).fit(logged)
    predicted = reward_model.predict(sessions, candidates)
    truth_table = expected_rewards(world, sessions, candidates, reward)
    category = world.category[np.maximum(candidates, 0)]
    other = (category != world.category[sessions.anchor][:, None]) & (candidates >= 0)
    targets = {
        "greedy model (top-1)": epsilon_greedy_probabilities(scores, 0.0),
        "softmax T=0.5": softmax_probabilities(scores, temperature=0.5),
        "other-category first": epsilon_greedy_probabilities(scores + 10.0 * other, 0.05),
    }
    rows = []
    for name, target in targets.items():
        row = {"target": name, "true": policy_value(world, sessions, candidates, target, reward)}
        for estimator, interval in (("ips", ips(logged, target, seed=seed)), ("snips", snips(logged, target, seed=seed)),
                                    ("dr", doubly_robust(logged, target, predicted, seed=seed))):
            row.update({estimator: interval.estimate, f"{estimator}_low": interval.low,
                        f"{estimator}_high": interval.high})
        rows.append(row)
    return {"reward": reward, "logged": len(logged), "candidates": candidates.shape[1],
            "logging_value": policy_value(world, sessions, candidates, logging, reward),
            "best_in_candidates": float(truth_table.max(axis=1).mean()), "rows": rows}


def plot_ope(ope: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, row in enumerate(ope["rows"]):
        ax.plot([i - 0.3, i + 0.3], [row["true"]] * 2, color="black", linewidth=2, label="true value" if i == 0 else None)
        for j, (name, color) in enumerate((("ips", "#4c72b0"), ("snips", "#55a868"), ("dr", "#dd8452"))):
            ax.errorbar(i - 0.15 + 0.15 * j, row[name], yerr=[[row[name] - row[f"{name}_low"]], [row[f"{name}_high"] - row[name]]],
                        fmt="o", color=color, capsize=3, label=name.upper() if i == 0 else None)
    ax.set_xticks(range(len(ope["rows"])), [r["target"] for r in ope["rows"]], fontsize=8)
    ax.set_ylabel("cross-sell conversion per session")
    ax.set_title(f"Off-policy estimates from {ope['logged']:,} logged impressions vs the simulator's truth")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bandit_section(shop, world, sessions, candidates, seed, rounds, offer_cost) -> dict[str, Any]:
    contexts, items = category_transition_vectors(shop, world, sessions)
    features = offer_features(contexts, items, candidates)
    dim = features.shape[2]
    agents = {"greedy model ranking": GreedyRanking(), "LinUCB": LinUCB(dim, alpha=0.5),
              "Thompson sampling": LinearThompson(dim, scale=0.05, seed=seed)}
    traces = {name: run_bandit(agent, world, sessions, candidates, features, rounds=rounds,
                               offer_cost=offer_cost, seed=seed) for name, agent in agents.items()}
    return {"rounds": rounds, "sessions": len(sessions), "offer_cost": offer_cost, "dim": dim,
            "traces": {name: trace.to_dict(as_series=False) for name, trace in traces.items()}}


def plot_bandits(bandits: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, trace in bandits["traces"].items():
        seen = np.cumsum(trace["sessions"])
        axes[0].plot(seen, trace["cumulative_regret"], label=name)
        axes[1].plot(seen, trace["shown"], label=name)
    axes[0].set_title("cumulative regret (expected, vs best candidate)")
    axes[1].set_title("share of sessions shown an offer")
    for ax in axes:
        ax.set_xlabel("sessions")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    m = results["machine"]
    lines = [start, "", f"Generated by `{results['command']}` in {results['seconds']:.0f} s on {m['cpu']} "
             f"({m['cores']} cores, load average at start {m['load_average_at_start']}), Python {m['python']}, "
             f"numpy {m['numpy']}, torch {m['torch']}, {results['date']}; seed {results['seed']}.", "",
             "**KPIs** (top-3 offers, 95% bootstrap intervals; incremental revenue against no recommendation on "
             "the same sessions):", "",
             "| policy | conversion | CTR | AOV | revenue / session | incremental revenue | abandonment | satisfaction |",
             "|---|---|---|---|---|---|---|---|"]
    order = ("cross_sell_conversion", "click_through", "average_order_value", "revenue_per_session",
             "incremental_revenue", "cart_abandonment", "survey_satisfaction")
    for name, table in results["kpis"].items():
        rows = {r["kpi"]: r for r in table}
        cells = ["-" if not np.isfinite(rows[k]["estimate"]) else
                 f"{rows[k]['estimate']:.4g} [{rows[k]['low']:.3g}, {rows[k]['high']:.3g}]" for k in order]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ab = results["ab"]
    lines += ["", f"**A/B power** ({ab['a']} vs {ab['b']}, conversion {ab['rate_a']:.4f} vs {ab['rate_b']:.4f}; "
              f"{ab['required_per_arm']:,} sessions per arm for 80% power):", "",
              "| sessions per arm | simulated experiments significant | analytic power |", "|---:|---:|---:|"]
    lines += [f"| {r['n_per_arm']:,} | {r['empirical_power']:.2f} | {r['analytic_power']:.2f} |" for r in ab["rows"]]
    ope = results["ope"]
    lines += ["", f"**Off-policy evaluation** ({ope['logged']:,} impressions logged by a softmax over the model's "
              f"top {ope['candidates'] - 1} + show nothing; logging policy's true value {ope['logging_value']:.4f}, "
              f"best candidate per session {ope['best_in_candidates']:.4f}):", "",
              "| target policy | true | IPS | SNIPS | DR |", "|---|---:|---|---|---|"]
    for r in ope["rows"]:
        cells = [f"{r[e]:.4f} [{r[e + '_low']:.4f}, {r[e + '_high']:.4f}]" for e in ("ips", "snips", "dr")]
        lines.append(f"| {r['target']} | {r['true']:.4f} | " + " | ".join(cells) + " |")
    bandits = results["bandits"]
    lines += ["", f"**Bandits** ({bandits['sessions']:,} sessions in {bandits['rounds']} rounds, reward = cross-sell "
              f"conversion - {bandits['offer_cost']} per offer shown, {bandits['dim']} features):", "",
              "| agent | cumulative expected reward | cumulative regret | shown (last 10 rounds) |", "|---|---:|---:|---:|"]
    for name, t in bandits["traces"].items():
        lines.append(f"| {name} | {t['cumulative_reward'][-1]:.1f} | {t['cumulative_regret'][-1]:.1f} | "
                     f"{np.mean(t['shown'][-10:]):.2f} |")
    lines += ["", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    walkthrough_arguments(parser)
    args = parser.parse_args()
    out = walkthrough_folder(SECTION, args.out)
    images = IMAGES if args.update_docs else out / "images"
    torch.set_num_threads(1)
    began = time.perf_counter()
    machine = machine_info()
    seed = args.seed

    shop = synthetic_shop(args.events, seed=seed)
    world = ShopWorld.from_shop(shop)
    data = prepare(shop, max_len=20)  # the models learn from the training part
    vocabulary = data.item_vocab
    models = {"popularity": MostPopular().fit(data.log), "item_knn": ItemKNN().fit(data.log),
              "markov": Markov().fit(data.log)}
    sessions = sample_sessions(shop, world, args.sessions, seed=seed + 1)
    complement = RulePipeline([ComplementMode(ItemCatalog.of(data), factor=0.0)])  # other categories only
    policies = {"no_recommendation": NoRecommendation(), "random": RandomPolicy(world.num_items, seed=seed),
                **{name: ScoreFunctionPolicy(model.score, vocabulary, world) for name, model in models.items()},
                "item_knn+complement": ScoreFunctionPolicy(complement.wrap(models["item_knn"].score), vocabulary, world),
                "oracle": AffinityOracle(world)}
    kpis, offers = kpi_section(world, sessions, policies, seed)
    plot_kpis(kpis, images / "simulation_kpis.png")

    arms = ("item_knn", "item_knn+complement")
    rates = [next(r["estimate"] for r in kpis[a] if r["kpi"] == "cross_sell_conversion") for a in arms]
    required = sample_size_two_proportions(*rates)
    sizes = sorted({min(int(required * f), len(sessions) // 2) for f in (0.25, 0.5, 1.0, 2.0)})
    ab = ab_section(world, sessions, offers[arms[0]], offers[arms[1]], seed, sizes=sizes, repeats=40)
    ab.update(a=arms[0], b=arms[1])
    plot_power(ab, images / "simulation_power.png")

    candidates = top_candidates(policies["item_knn"], sessions, 20)
    ope = ope_section(world, sessions, candidates, seed)
    plot_ope(ope, images / "simulation_ope.png")

    bandits = bandit_section(shop, world, sessions, candidates, seed, rounds=100, offer_cost=0.01)
    plot_bandits(bandits, images / "simulation_bandits.png")

    results = {"command": "python " + shlex.join(sys.argv), "seed": seed, "events": args.events,
               "sessions": args.sessions, "machine": machine, "kpis": kpis, "ab": ab, "ope": ope,
               "bandits": bandits, "seconds": time.perf_counter() - began,
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_json_atomic(OUT if args.update_docs else out / f"{SECTION}.json", results)
    write_text_atomic(out / f"{SECTION}.md", render(results) + "\n")
    if args.update_docs:
        update_doc(SECTION, "## Numbers", render(results), doc=DOC)
    print(render(results))


if __name__ == "__main__":
    main()
