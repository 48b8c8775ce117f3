"""Explicit feedback on the synthetic shop: does a survey's "helpful / not helpful" improve the top-10?

    python benchmarks/feedback.py            # the runs below, JSON + the docs section (about 4 minutes)
    python benchmarks/feedback.py --quick    # a smoke run (tiny data, one epoch)

A SASRec is trained (single thread, short runs, same seed) on the synthetic shop, leave-one-out:

- ``none``: no feedback (the reference);
- ``random+both``: a *random policy* shows 10 catalog items after every purchase, customers answer from the
  ground truth (:mod:`xsell.data.survey`, noise 0.1); "not helpful" answers are hard negatives and
  "helpful" ones extra positives (:class:`xsell.nn.losses.FeedbackLoss`);
- ``random+negatives`` / ``random+positives``: one kind of answer only;
- ``model+both``: the survey is on the *reference model's own* top-10 for the purchased item (a
  realistic in-app survey: customers rate what was shown), read back from a parquet file;
  ``model+both-x4``: the same answers with four times the weights (the accuracy / helpfulness trade-off).

Reported on the test targets (full ranking, test read once per run): NDCG@10 / Recall@10 with the paired
difference to ``none`` (bootstrap 95% CI, sign-flip p-value), and the ground-truth helpfulness of the
served top-10: the mean planted affinity (:meth:`ShopGroundTruth.affinity`) of the 10 items for the
history's last item, over test targets whose last history item is of an antecedent category.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, markers, update_doc, write_results  # noqa: E402

from xsell.data.schema import ANCHOR, EVENT, ITEM, RECOMMENDED, TIMESTAMP, USER  # noqa: E402
from xsell.data.survey import ANSWER_DELAY_SECONDS, answer_survey  # noqa: E402
from xsell.data.synthetic import synthetic_shop  # noqa: E402
from xsell.evaluation.comparison import paired_comparison  # noqa: E402
from xsell.evaluation.table import LAST_ITEM, TOP_K, rank_table, with_metrics  # noqa: E402
from xsell.training.checkpoint import load_checkpoint_model  # noqa: E402
from xsell.training.fitting import train  # noqa: E402

SECTION = "feedback"
TITLE = "## Explicit feedback (issue 7)"
RESULTS = ROOT / "benchmarks" / "results" / "feedback.json"
RUNS_DIR = ROOT / "benchmarks" / "runs" / "feedback"
SEED = 0
FULL = {"n_events": 40_000, "epochs": 12, "dim": 32}
QUICK = {"n_events": 4_000, "epochs": 1, "dim": 16}
WEIGHTS = {"both": (1.0, 0.5), "negatives": (1.0, 0.0), "positives": (0.0, 0.5)}  # (negative, positive)
MODEL_POLICY_WEIGHTS = {"model+both": (1.0, 0.5), "model+both-x4": (4.0, 2.0)}


def overrides(size: dict[str, int], run: str) -> list[str]:
    """The training config of every run: small SASRec, single thread, short."""
    return [f"paths.output_dir={RUNS_DIR / run}", f"data.source.n_events={size['n_events']}", "data.max_len=20",
            f"trainer.max_epochs={size['epochs']}", f"model.dim={size['dim']}", "model.layers=1", "threads=1",
            f"seed={SEED}", "baseline=false", "export=false", "callbacks.progress_bar=null", "logger=csv",
            "trainer.accelerator=cpu", "module.warmup_fraction=null"]


def run_training(size: dict[str, int], run: str, extra: list[str]) -> tuple[dict[str, Any], list[str]]:
    shutil.rmtree(RUNS_DIR / run, ignore_errors=True)  # a stale best.ckpt would make Lightning write best-v1.ckpt
    config_dir = str(ROOT / "xsell" / "configs")
    command = overrides(size, run) + extra
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        cfg = compose("train", overrides=command)
    return train(cfg), command


def test_table(run: str, data_config) -> tuple[pl.DataFrame, Any]:
    """The rank table (top-10 served lists included) of a run's best checkpoint on the test targets."""
    ckpt = RUNS_DIR / run / "checkpoints" / "best.ckpt"
    model, datamodule = load_checkpoint_model(ckpt, data_config)
    with torch.no_grad():
        table = rank_table(model.score, datamodule.test_dataloader(), k=10)
    return with_metrics(table, ks=(10,)), datamodule


def helpfulness(table: pl.DataFrame, datamodule, truth) -> dict[str, float]:
    """Mean ground-truth affinity of the served top-10 for the history's last item, and the share of top-10
    items in a planted complement category, over test targets whose last history item is of an antecedent
    category (a camera, a phone, ...: where a complement is the right suggestion)."""
    vocab = datamodule.prepared.item_vocab
    antecedents = set(truth.complements.get_column("antecedent").to_list())
    category = dict(truth.item_category.iter_rows())
    anchors = np.array(vocab.decode(table.get_column(LAST_ITEM).to_list()), dtype=object)
    keep = np.array([a is not None and category[a] in antecedents for a in anchors])
    top = np.array(table.get_column(TOP_K).to_list())[keep]  # [R, 10] item indices
    served = np.array(vocab.decode(top.ravel().tolist()), dtype=object).reshape(top.shape)
    affinity = truth.affinity(anchors[keep][:, None].astype(str), served.astype(str))  # [R, 10]
    return {"rows": int(keep.sum()), "affinity@10": float(affinity.mean()),
            "complement_share@10": float((affinity > 0).mean())}


def model_policy_survey(run: str, data_config, shop, path: Path) -> int:
    """The reference model's top-10 for the one-item history [purchased item] after every purchase,
    answered from the ground truth; written to ``path`` (parquet). Returns the number of answers."""
    model, datamodule = load_checkpoint_model(RUNS_DIR / run / "checkpoints" / "best.ckpt", data_config)
    vocab = datamodule.prepared.item_vocab
    purchases = shop.events.filter(pl.col(EVENT) == "purchase")
    anchors = purchases.get_column(ITEM).unique().sort()
    index = torch.tensor([vocab.index(a) for a in anchors.to_list()])[:, None]  # [A, 1]
    with torch.no_grad():
        scores = model.encode_sequence(index, torch.ones_like(index), torch.ones_like(index)) @ model.item_embeddings().T
        scores[:, :2] = float("-inf")
        scores.scatter_(1, index, float("-inf"))  # not the purchased item itself
        top = scores.topk(10, dim=1).indices  # [A, 10]
    lists = pl.DataFrame({ITEM: anchors, RECOMMENDED: [vocab.decode(row) for row in top.tolist()]})
    shown = (purchases.join(lists, on=ITEM).explode(RECOMMENDED)
             .select(USER, pl.col(ITEM).alias(ANCHOR), RECOMMENDED,
                     (pl.col(TIMESTAMP) + ANSWER_DELAY_SECONDS).alias(TIMESTAMP)))
    answers = answer_survey(shop.ground_truth, shown, noise=0.1, seed=SEED + 1)
    answers.write_parquet(path)
    return answers.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run; writes nothing under docs/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    size = QUICK if args.quick else FULL
    info = machine_info()
    started = time.perf_counter()
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    shop = synthetic_shop(size["n_events"], seed=SEED)

    plans: list[tuple[str, list[str]]] = [("none", [])]
    for name, (negative, positive) in WEIGHTS.items():
        plans.append((f"random+{name}", ["feedback=survey", f"feedback.loss.negative_weight={negative}",
                                         f"feedback.loss.positive_weight={positive}"]))
    survey = RUNS_DIR / "model_policy_answers.parquet"  # written after the reference run
    for name, (negative, positive) in MODEL_POLICY_WEIGHTS.items():
        plans.append((name, ["feedback=file", f"feedback.path={survey}", f"feedback.loss.negative_weight={negative}",
                             f"feedback.loss.positive_weight={positive}"]))
    runs: dict[str, dict[str, Any]] = {}
    data_config = None
    answers = 0
    for name, extra in plans:
        if name.startswith("model") and not answers:  # the survey on the reference model's own recommendations
            answers = model_policy_survey("none", data_config, shop, survey)
        t0 = time.perf_counter()
        metrics, command = run_training(size, name, extra)
        data_config = OmegaConf.load(RUNS_DIR / name / "config.yaml").data  # resolved: the same data for every run
        table, datamodule = test_table(name, data_config)
        runs[name] = {"command": "python -m xsell.train " + " ".join(command), "table": table,
                      "metrics": metrics, "seconds": time.perf_counter() - t0,
                      "helpfulness": helpfulness(table, datamodule, shop.ground_truth),
                      "feedback_answers_used": metrics["data"].get("feedback_answers_used", 0)}
        if name.startswith("model"):
            runs[name]["survey_answers"] = answers
        print(f"{name}: test ndcg@10 {metrics['test']['ndcg@10']:.4f}, {runs[name]['helpfulness']}, "
              f"{runs[name]['seconds']:.0f} s", flush=True)

    reference = runs["none"]["table"]
    results = []
    for name, run in runs.items():
        row = {"run": name, "command": run["command"], "epochs": run["metrics"]["epochs"],
               "seconds": round(run["seconds"], 1), "feedback_answers_used": run["feedback_answers_used"],
               "test": {k: run["metrics"]["test"][k] for k in ("ndcg@10", "recall@10", "mrr@10")},
               "val_ndcg@10": run["metrics"]["val"]["ndcg@10"], "helpfulness": run["helpfulness"]}
        if name != "none":
            row["vs_none"] = {m: paired_comparison(run["table"], reference, m, seed=SEED).to_dict()
                              for m in ("ndcg@10", "recall@10")}
        if "survey_answers" in run:
            row["survey_answers"] = run["survey_answers"]
        results.append(row)
    payload = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": info,
               "size": size, "seed": SEED, "total_seconds": round(time.perf_counter() - started, 1),
               "runs": results}
    out = RESULTS.with_name("feedback_quick.json") if args.quick else RESULTS
    write_results(out, payload)
    print(f"-> {out} ({payload['total_seconds']:.0f} s)")
    if not args.quick:
        update_doc(SECTION, TITLE, render(payload))


def render(payload: dict[str, Any]) -> str:
    machine = payload["machine"]
    start, end = markers(SECTION)
    lines = [
        start, "",
        f"SASRec (dim {payload['size']['dim']}, 1 layer, max_len 20) on `synthetic_shop({payload['size']['n_events']}, "
        f"seed={payload['seed']})`, leave-one-out, at most {payload['size']['epochs']} epochs (best by validation "
        "NDCG@10), one thread. Test metrics by full ranking; brackets: paired difference to `none` with bootstrap "
        "95% CI, and the sign-flip p-value. *Affinity@10*: mean ground-truth affinity (planted complement "
        "probability) of the served top-10 for the last history item, over the test targets (*rows*) whose last "
        "history item is of an antecedent category; *complements*: share of those top-10 items in a planted "
        "complement category. Generated by `benchmarks/feedback.py`.",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB RAM, load average at "
        f"start {machine['load_average_at_start']}; Python {machine['python']}, torch {machine['torch']}, "
        f"Lightning {machine['pytorch_lightning']}, polars {machine['polars']}",
        f"- xsell {machine['xsell_commit']}{' (uncommitted changes)' if machine['xsell_modified'] else ''}; "
        f"date {payload['date']}; total {payload['total_seconds']:.0f} s",
        "",
        "| run | answers used | epochs | test NDCG@10 | vs none | p | test Recall@10 | vs none | p | "
        "affinity@10 | complements@10 | rows |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row in payload["runs"]:
        cells = [row["run"], str(row["feedback_answers_used"]), str(row["epochs"])]
        for metric in ("ndcg@10", "recall@10"):
            cells.append(f"{row['test'][metric]:.4f}")
            if "vs_none" in row:
                c = row["vs_none"][metric]
                cells += [f"{c['difference']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]", f"{c['p_value']:.3f}"]
            else:
                cells += ["-", "-"]
        h = row["helpfulness"]
        cells += [f"{h['affinity@10']:.4f}", f"{h['complement_share@10']:.3f}", str(h["rows"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Commands:", ""]
    lines += [f"- {row['run']}: `{row['command']}`" for row in payload["runs"]]
    lines += ["", end]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
