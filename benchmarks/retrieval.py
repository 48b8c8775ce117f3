"""Retrieval (issue 5): FAISS index types on synthetic catalogs, two-tower cold start, two-tower on Games.

    python benchmarks/retrieval.py --parts ann                     # 1e4, 1e5, 1e6 items (several minutes)
    python benchmarks/retrieval.py --parts ann --sizes 10000       # one size
    python benchmarks/retrieval.py --parts cold_start              # trains a two-tower on the synthetic shop
    python benchmarks/retrieval.py --parts cold_start_no_logq      # the same without the logQ correction
    python benchmarks/retrieval.py --parts games --games-epochs 5  # two-tower vs SASRec on Amazon Games

*ann*: catalogs of unit-norm 64-d vectors drawn from a Gaussian mixture (``max(100, n / 1000)`` centres
``N(0, I)`` with Zipf(0.8) cluster sizes; points = centre + ``N(0, s^2 I)`` with a per-cluster spread ``s`` in
[0.5, 1.5], so clusters overlap; then L2-normalised; queries drawn the same way), so that neighbourhoods have
the uneven cluster structure of trained item vectors rather than the structureless geometry of pure noise.
For each FAISS index type (inner product) and search setting: build time (train + add), memory (serialised
index size), queries/s at batch 1 and batch 256, and recall@10 against exact brute force
(``xsell.retrieval.exact_search``). FAISS and torch run on one thread (``--threads``).

*cold_start*: the synthetic shop (100k events), with 10% of the catalog held out of training entirely (all
their events dropped; the items keep their features and, with ``catalog_items``, a vocabulary row whose id
vector never trains). A two-tower (SASRec query tower, item tower on category, brand, price bucket and title
tokens) is trained with in-batch softmax + logQ. Queries are test histories whose last event is on an
antecedent category (camera, phone, ...; all events, and purchases only); relevant items are the held-out items of its planted complement
categories; the index holds the held-out items only. recall@50 is compared with a random pick of 50 of them.
A probe (a one-purchase history for each trained item of an antecedent category) gives more queries; the same
probe against an index of the trained items is the reference.

*games*: the two-tower (id-only item tower: the file has no item features) next to SASRec, both through
``xsell.train`` with the ``games_sasrec`` preset (leave-one-out, full ranking); a short run when asked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import DEFAULT_DATA_DIR, ROOT, machine_info, markers, update_doc, write_results  # noqa: E402

SECTION = "retrieval"
TITLE = "## Retrieval: FAISS indexes, two-tower cold start (issue 5)"
RESULTS = ROOT / "benchmarks" / "results" / "retrieval.json"
DIM = 64
K = 10
QUERIES = 1024
SINGLE_QUERIES = 300
SINGLE_SECONDS = 3.0
RECALL_TARGET = 0.95
SPEEDUP_TARGET = 10.0
LABELS = {"probe": "probe: one purchase of each warm item of an antecedent category",
          "after_purchase": "test histories ending in a purchase of an antecedent category",
          "after_any_event": "test histories ending in any event on an antecedent category",
          "probe_warm_items": "reference: the probe against the trained items instead (index of warm items)"}


# ------------------------------------------------------------------------------------------------ ANN


def clustered_vectors(n: int, seed: int, centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors from a Gaussian mixture with Zipf-sized, overlapping clusters (and the centres)."""
    rng = np.random.default_rng(seed)
    if centres is None:
        centres = rng.normal(size=(max(100, n // 1000), DIM)).astype(np.float32)
    weights = 1.0 / np.arange(1, len(centres) + 1) ** 0.8
    cluster = rng.choice(len(centres), size=n, p=weights / weights.sum())
    spread = np.random.default_rng(len(centres)).uniform(0.5, 1.5, len(centres))  # fixed per cluster
    points = centres[cluster] + spread[cluster, None] * rng.normal(size=(n, DIM))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32), centres


def index_settings(n: int) -> list[tuple[str, str, list[str]]]:
    """(label, factory string, search-parameter settings) per index type for a catalog of ``n`` items."""
    nlist = int(2 ** round(np.log2(np.sqrt(n))))  # ~sqrt(n) lists
    return [
        ("Flat", "Flat", [""]),
        ("HNSW", "HNSW32", [f"efSearch={e}" for e in (16, 32, 64, 128, 256)]),
        ("IVF-Flat", f"IVF{nlist},Flat", [f"nprobe={p}" for p in (1, 4, 8, 16, 32, 64)]),
        ("IVF-PQ", f"IVF{nlist},PQ32", [f"nprobe={p}" for p in (4, 16, 64)]),
    ]


def queries_per_second(index, queries: np.ndarray, batch: int) -> float:
    if batch == 1:  # one query at a time, up to SINGLE_QUERIES or SINGLE_SECONDS
        start, done = time.perf_counter(), 0
        for row in queries[:SINGLE_QUERIES]:
            index.index.search(row[None], K)
            done += 1
            if time.perf_counter() - start > SINGLE_SECONDS:
                break
        return done / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(queries), batch):
        index.index.search(queries[i:i + batch], K)
    return len(queries) / (time.perf_counter() - start)


def run_ann(n: int, seed: int = 0) -> list[dict[str, Any]]:
    from xsell.retrieval import ItemIndex, exact_search, recall_at_k

    vectors, centres = clustered_vectors(n, seed)
    queries, _ = clustered_vectors(QUERIES, seed + 1, centres)
    ids = np.arange(n).astype(str)
    start = time.perf_counter()
    _, truth = exact_search(queries, vectors, K)
    exact_seconds = time.perf_counter() - start
    rows = []
    for label, factory, settings in index_settings(n):
        start = time.perf_counter()
        index = ItemIndex.build(vectors, ids, factory=factory, seed=seed, max_training_points=64 * 1024)
        build = time.perf_counter() - start
        memory = index.memory_bytes() / 2**20
        for params in settings:
            index.set_search_params(params)
            found = index.search(queries, K)
            row = {"items": n, "index": label, "factory": factory, "params": params, "build_seconds": build,
                   "memory_mb": memory, "qps_batch1": queries_per_second(index, queries, 1),
                   "qps_batch256": queries_per_second(index, queries, 256),
                   "recall@10": recall_at_k(found.rows, truth), "exact_torch_seconds": exact_seconds}
            rows.append(row)
            print(f"{n:>9,} {label:8} {params:12} build {build:7.2f}s mem {memory:8.1f}MB "
                  f"qps@1 {row['qps_batch1']:9.0f} qps@256 {row['qps_batch256']:9.0f} recall@10 {row['recall@10']:.3f}",
                  flush=True)
    flat = next(r for r in rows if r["index"] == "Flat")
    for row in rows:
        row["speedup_batch1"] = row["qps_batch1"] / flat["qps_batch1"]
        row["speedup_batch256"] = row["qps_batch256"] / flat["qps_batch256"]
    return rows


def best_settings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size and index type, the fastest (batch 256) setting with recall@10 >= RECALL_TARGET, else the most
    accurate one."""
    best = []
    for n in sorted({r["items"] for r in rows}):
        for label in dict.fromkeys(r["index"] for r in rows if r["items"] == n):
            group = [r for r in rows if r["items"] == n and r["index"] == label]
            good = [r for r in group if r["recall@10"] >= RECALL_TARGET]
            best.append(max(good, key=lambda r: r["qps_batch256"]) if good else max(group, key=lambda r: r["recall@10"]))
    return best


# ----------------------------------------------------------------------------------------- cold start


def run_cold_start(n_events: int, epochs: int, cold_share: float = 0.1, seed: int = 0,
                   logq_correction: bool = True) -> dict[str, Any]:
    import functools

    import polars as pl
    import pytorch_lightning as pl_lightning
    import torch

    from xsell.data.datamodule import SequenceDataModule
    from xsell.data.interactions import Interactions
    from xsell.data.schema import ITEM
    from xsell.data.synthetic import synthetic_shop
    from xsell.evaluation.protocol import evaluate_scorer
    from xsell.models import SASRec, TwoTower
    from xsell.nn.losses import InBatchSoftmax
    from xsell.retrieval import ItemIndex
    from xsell.training.module import NextItemModule

    pl_lightning.seed_everything(seed, verbose=False)
    shop = synthetic_shop(n_events, seed=seed)
    items = shop.items.get_column(ITEM)
    rng = np.random.default_rng(seed)
    cold_ids = set(items.gather(np.sort(rng.choice(len(items), int(cold_share * len(items)), replace=False))).to_list())
    events = shop.events.filter(~pl.col(ITEM).is_in(list(cold_ids)))
    data = Interactions(events=events, items=shop.items, users=shop.users, name=f"{shop.name} minus cold items",
                        ground_truth=shop.ground_truth)
    features = ["category", "brand", "price_bucket", "title_tokens"]
    datamodule = SequenceDataModule(data, max_len=50, batch_size=256, eval_batch_size=256, item_features=features,
                                    catalog_items=True, seed=seed)
    datamodule.setup()
    prepared = datamodule.prepared
    vocab = prepared.item_vocab
    table = prepared.item_features
    model = TwoTower(prepared.num_items, dim=64, max_len=50,
                     query=functools.partial(SASRec, layers=2, heads=2, dropout=0.2),
                     num_event_types=prepared.num_event_types, feature_ids=torch.from_numpy(table.ids),
                     feature_specs=table.specs, id_dropout=0.2)
    loss = InBatchSoftmax(temperature=0.05, logq_correction=logq_correction)
    module = NextItemModule(model, loss, item_counts=prepared.item_counts(),
                            optimizer=functools.partial(torch.optim.AdamW, lr=3e-3, weight_decay=0.0), seed=seed)
    trainer = pl_lightning.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                                   enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                                   limit_val_batches=0)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    train_seconds = time.perf_counter() - start
    model.eval()
    warm_metrics = evaluate_scorer(model.score, datamodule.test_dataloader(), ks=(10, 50))

    # held-out items: in the vocabulary (catalog_items) with no training event
    category = dict(zip(shop.items.get_column(ITEM).to_list(), shop.items.get_column("category").to_list(), strict=True))
    index_category = np.array([None, None] + [category.get(i) for i in vocab.ids], dtype=object)
    cold_keys = np.array([vocab.index(i) for i in sorted(cold_ids)], dtype=np.int64)
    assert (prepared.item_counts()[cold_keys] == 0).all(), "held-out items must have no training events"
    with torch.no_grad():
        vectors = model.item_embeddings()  # [N, D]
    index = ItemIndex.build(vectors[cold_keys].numpy(), [vocab.ids[k - 2] for k in cold_keys], cold_keys)
    truth = shop.ground_truth
    complements = {a: truth.complement_categories(a) for a in truth.complements.get_column("antecedent").unique()}
    purchase = prepared.event_types.index_of()["purchase"]
    # (recall, random recall, share of complements in the top 50, random share) per query
    variants: dict[str, list[tuple[float, float, float, float]]] = {
        "probe": [], "after_purchase": [], "after_any_event": [], "probe_warm_items": []}

    counts = prepared.item_counts()
    warm_keys = np.array([k for k in range(2, len(vocab)) if counts[k] > 0], dtype=np.int64)
    warm_index = ItemIndex.build(vectors[warm_keys].numpy(), [vocab.ids[k - 2] for k in warm_keys], warm_keys)

    def score(items: torch.Tensor, events: torch.Tensor, gaps: torch.Tensor, pool: ItemIndex = index,
              pool_keys: np.ndarray = cold_keys) -> list[tuple[float, ...]]:
        with torch.no_grad():
            found = pool.search(model.encode_sequence(items, events, gaps).numpy(), 50)
        outcomes = []
        for last, keys in zip(items[:, -1].tolist(), found.keys, strict=True):
            wanted = set(complements[index_category[last]])
            relevant = {int(k) for k in pool_keys if index_category[k] in wanted}
            hits = sum(int(k) in relevant for k in keys)
            outcomes.append((hits / len(relevant), 50 / len(pool_keys), hits / 50, len(relevant) / len(pool_keys)))
        return outcomes

    # probe: a one-event history, the purchase of each warm item of an antecedent category
    probes = torch.tensor([k for k in warm_keys if index_category[k] in complements]).unsqueeze(1)  # [P, 1]
    variants["probe"] = score(probes, torch.full_like(probes, purchase), torch.zeros_like(probes))
    # the same probe against the trained (warm) items: what the model achieves where ids were learned
    variants["probe_warm_items"] = score(probes, torch.full_like(probes, purchase), torch.zeros_like(probes),
                                         warm_index, warm_keys)
    for batch in datamodule.test_dataloader():  # real test histories ending in an antecedent category
        last_item, last_event = batch.items[:, -1].numpy(), batch.events[:, -1].numpy()
        rows = [r for r in range(len(batch)) if index_category[last_item[r]] in complements]
        if rows:
            outcomes = score(batch.items[rows], batch.events[rows], batch.time_gaps[rows])
            variants["after_any_event"] += outcomes
            variants["after_purchase"] += [o for r, o in zip(rows, outcomes, strict=True) if last_event[r] == purchase]
    summary = {}
    for name, outcomes in variants.items():
        recall, expected, share, base = np.mean(outcomes, axis=0).tolist() if outcomes else [float("nan")] * 4
        summary[name] = {"queries": len(outcomes), "recall@50": recall, "random_recall@50": expected,
                         "ratio": recall / expected, "complement_share_of_top50": share,
                         "random_complement_share": base}
    return {
        "n_events": n_events, "epochs": epochs, "train_seconds": train_seconds, "items": len(items),
        "loss": f"in-batch softmax, logQ correction {'on' if logq_correction else 'off'}",
        "cold_items": len(cold_keys), "features": features, "queries": summary,
        "test_full_ranking": {k: warm_metrics[k] for k in ("recall@10", "ndcg@10", "recall@50", "ndcg@50")},
        "temperature": float(module.loss.temperature.detach()),
    }


# ---------------------------------------------------------------------------------------------- games


GAMES_MODELS = ("two_tower", "two_tower_full_softmax", "sasrec")


def run_games(data_dir: Path, epochs: int, models: list[str], seed: int = 0) -> dict[str, Any]:
    from hydra import compose, initialize_config_dir

    from xsell.training.builders import CONFIG_DIR
    from xsell.training.fitting import train

    path = data_dir / "amazon-games" / "Video.txt"
    if not path.is_file():
        return {"skipped": f"{path} not found"}
    out = {}
    # The games_sasrec preset's data, sizes and learning rate for both; the two-tower's query tower is that
    # SASRec (2 layers, 1 head, dropout 0.5) and it trains with in-batch softmax + logQ.
    two_tower = ["data=sasrec_txt", "data.max_len=50", "data.batch_size=256", "model=two_tower", "model.dim=64",
                 "model.query.layers=2", "model.query.heads=1", "model.query.dropout=0.5",
                 "module.optimizer.lr=0.001", "task_name=games_two_tower"]
    runs = {"two_tower": two_tower, "two_tower_full_softmax": [*two_tower, "loss=ce", "model.normalize=false"],
            "sasrec": ["experiment=games_sasrec"]}
    for name in models:
        overrides = runs[name]
        run = ROOT / "benchmarks" / "runs" / f"games_{name}_retrieval"
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose("train", overrides=[
                *overrides, f"data.path={path}", f"paths.output_dir={run}", f"trainer.max_epochs={epochs}",
                "trainer.accelerator=cpu", "++export=false", "callbacks.progress_bar=null", "baseline=false",
                "module.sampled_negatives=null", "module.ks=[10,50]", f"seed={seed}"])
        metrics = train(cfg)
        out[name] = {"test": {k: metrics["test"][k] for k in ("recall@50", "ndcg@10", "recall@10")},
                     "epochs": metrics["epochs"], "train_seconds": metrics["train_seconds"]}
        print(name, out[name], flush=True)
    return out


# ---------------------------------------------------------------------------------------------- report


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    lines = [start, "", "Generated by `benchmarks/retrieval.py` (see its docstring for the set-up).", ""]
    for part in ("ann", "cold_start", "cold_start_no_logq", "games"):
        if part not in results:
            continue
        info = results[part]
        m = info["machine"]
        lines += [f"### {part.replace('_', ' ')}", "", f"- Command: `{info['command']}`",
                  f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, load average at start "
                  f"{m['load_average_at_start']} (other benchmarks ran beside it); {info['threads']} thread(s); "
                  f"date {info['date']}",
                  f"- Versions: Python {m['python']}, torch {m['torch']}, faiss {info.get('faiss')}, "
                  f"xsell {m['xsell_commit']}{' (uncommitted changes)' if m['xsell_modified'] else ''}; seed {info['seed']}",
                  ""]
        if part == "ann":
            lines += [
                "Clustered unit vectors (64-d), 1,024 queries, top-10, inner product. *Memory* is the serialised "
                "index size; *x Flat* is queries/s relative to exact search (Flat) at the same batch size. "
                f"Bold: the fastest setting of each type with recall@10 >= {RECALL_TARGET} (target at 1e6 items: "
                f"HNSW or IVF >= {RECALL_TARGET} recall at >= {SPEEDUP_TARGET:.0f}x Flat's queries/s).", "",
                "| items | index | factory | search | build s | memory MB | q/s batch 1 (x Flat) | "
                "q/s batch 256 (x Flat) | recall@10 |",
                "|---:|---|---|---|---:|---:|---:|---:|---:|",
            ]
            best = {id(r) for r in best_settings(info["rows"])}
            for r in info["rows"]:
                bold = "**" if id(r) in best and r["recall@10"] >= RECALL_TARGET else ""
                lines.append(
                    f"| {r['items']:,} | {bold}{r['index']}{bold} | `{r['factory']}` | {r['params'] or '-'} | "
                    f"{r['build_seconds']:.2f} | {r['memory_mb']:.1f} | {r['qps_batch1']:,.0f} ({r['speedup_batch1']:.1f}x) | "
                    f"{r['qps_batch256']:,.0f} ({r['speedup_batch256']:.1f}x) | {r['recall@10']:.3f} |")
            lines += ["", info.get("verdict", ""), ""]
        elif part.startswith("cold_start"):
            c = info["result"]
            lines += [
                f"Synthetic shop, {c['n_events']:,} events, {c['items']:,} items of which {c['cold_items']} "
                f"({c['cold_items'] / c['items']:.0%}) held out of training entirely; item tower features: "
                f"{', '.join(c['features'])}; {c.get('loss', 'in-batch softmax, logQ correction on')}; "
                f"{c['epochs']} epochs ({c['train_seconds']:.0f} s), learned temperature {c['temperature']:.3f}.", "",
                "| queries | count | recall@50 of held-out complements | "
                "random 50 of the held-out items | ratio | complement share of the top 50 (random) |",
                "|---|---:|---:|---:|---:|---:|",
                *[f"| {LABELS[name]} | "
                  f"{q['queries']:,} | {q['recall@50']:.3f} | {q['random_recall@50']:.3f} | {q['ratio']:.1f}x | "
                  f"{q['complement_share_of_top50']:.3f} ({q['random_complement_share']:.3f}) |"
                  for name, q in c["queries"].items()], "",
                "Full-ranking test metrics of the same model over the whole catalog (held-out items included): "
                + ", ".join(f"{k} {v:.4f}" for k, v in c["test_full_ranking"].items()) + ".", "",
            ]
        elif part == "games":
            g = info["result"]
            if "skipped" in g:
                lines += [f"Skipped: {g['skipped']}", ""]
            else:
                lines += [f"{info.get('label', '')}", "",
                          "| model | epochs | train s | Recall@50 | NDCG@10 | Recall@10 |", "|---|---:|---:|---:|---:|---:|"]
                for name, r in g.items():
                    lines.append(f"| {name} | {r['epochs']} | {r['train_seconds']:.0f} | {r['test']['recall@50']:.4f} | "
                                 f"{r['test']['ndcg@10']:.4f} | {r['test']['recall@10']:.4f} |")
                lines.append("")
    lines.append(end)
    return "\n".join(lines)


def ann_verdict(rows: list[dict[str, Any]]) -> str:
    n = max(r["items"] for r in rows)
    good = [r for r in best_settings(rows) if r["items"] == n and r["index"] in ("HNSW", "IVF-Flat", "IVF-PQ")
            and r["recall@10"] >= RECALL_TARGET]
    if not good:
        return f"At {n:,} items no HNSW/IVF setting reached recall@10 >= {RECALL_TARGET}."
    parts = [f"{r['index']} ({r['params']}): recall@10 {r['recall@10']:.3f} at {r['speedup_batch1']:.0f}x (batch 1) / "
             f"{r['speedup_batch256']:.0f}x (batch 256) Flat's queries/s" for r in good]
    met = any(min(r["speedup_batch1"], r["speedup_batch256"]) >= SPEEDUP_TARGET for r in good)
    return f"At {n:,} items: " + "; ".join(parts) + f". Target {'met' if met else 'not met'}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="*", default=["ann", "cold_start"],
                        choices=["ann", "cold_start", "cold_start_no_logq", "games"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cold-events", type=int, default=100_000)
    parser.add_argument("--cold-epochs", type=int, default=10)
    parser.add_argument("--games-epochs", type=int, default=5)
    parser.add_argument("--games-models", nargs="*", default=["two_tower", "sasrec"], choices=GAMES_MODELS)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import faiss
    import torch

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    command = "python benchmarks/retrieval.py " + " ".join(sys.argv[1:])
    for part in args.parts:
        info = {"command": command.strip(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": machine_info(), "threads": args.threads, "faiss": faiss.__version__, "seed": args.seed}
        if part == "ann":
            rows = [row for n in args.sizes for row in run_ann(n, args.seed)]
            info.update(rows=rows, verdict=ann_verdict(rows))
            print(info["verdict"])
        elif part.startswith("cold_start"):
            info["result"] = run_cold_start(args.cold_events, args.cold_epochs, seed=args.seed,
                                            logq_correction=part == "cold_start")
            print(json.dumps(info["result"], indent=1))
        else:
            earlier = {k: v for k, v in results.get("games", {}).get("result", {}).items() if k != "skipped"}
            if earlier:  # runs of other models are kept: keep their command too
                info["command"] = f"{results['games']['command']}; {info['command']}"
            info["result"] = {**earlier, **run_games(args.data_dir, args.games_epochs, args.games_models, args.seed)}
            info["label"] = (
                f"Short runs: {args.games_epochs} epochs each (otherwise the games_sasrec preset: max_len 50, batch "
                "256, lr 1e-3, dim 64), leave-one-out, full ranking, test split. two_tower: SASRec query tower (2 "
                "layers, 1 head, dropout 0.5) + id-only item tower (the file has no item features), in-batch "
                "softmax + logQ (learned temperature); two_tower_full_softmax: the same towers, raw inner products "
                "(no L2 normalisation) and full-softmax cross-entropy; sasrec: the preset (full-softmax "
                "cross-entropy).")
        results[part] = info
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        write_results(RESULTS, results)
    update_doc(SECTION, TITLE, render(results))


if __name__ == "__main__":
    main()
