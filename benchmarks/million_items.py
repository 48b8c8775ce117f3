"""A million-item catalog end to end: data, training, full-ranking evaluation, export, index, serving latency.

    flock /tmp/xsell-heavy.lock python benchmarks/million_items.py                       # 1e6 items, 1e5 users
    python benchmarks/million_items.py --items 100000 --users 10000 --events 200000 --no-doc   # a quick look
    python benchmarks/million_items.py --render benchmarks/results/million_items.json   # only the docs block

One process, every step through the library:

1. **Data.** :func:`xsell.data.synthetic.synthetic_shop` with ``--items`` items (Zipf-popular within 32
   categories, complementary categories that follow purchases: sequential structure to learn), ``--users``
   users and ``--events`` events, leave-one-out, histories of 50; ``catalog_items=True`` indexes every
   catalog item, also those the log never shows (the model must rank all of them).
2. **Training.** SASRec (64-d, 1 block) with :class:`xsell.nn.losses.SampledSoftmax` (1,024 shared negatives
   drawn by popularity, logQ correction) for ``--steps`` optimizer steps of ``--batch-size`` sequences, by
   Lightning; peak resident memory of the step and the largest tensor one training step creates (forward
   and backward, recorded by a dispatch mode): the logits are ``[rows, 1 + K]``, never ``[B, L, N]``.
3. **Evaluation.** Every test target (one per user) ranked against the whole catalog with seen items
   excluded, block by block over the items (:class:`~xsell.evaluation.protocol.RankingEvaluation`
   ``.update_vectors``), beside the *bare product* in the same run: the same ``[block, B]`` tiles of
   ``items @ queries.T`` and nothing else, the floor of any exact evaluation, timed batch by batch in
   alternation with the ranking (a shared machine's load falls on both). Their ratio is the target (at
   most 2x). The query encoding is timed apart (the same for both). Then the rank table with top-20
   lists (:func:`~xsell.evaluation.table.rank_table` of a :class:`~xsell.evaluation.blocked.DotProductScorer`)
   on the first ``--table-users`` users, against the dense ``[rows, N]`` path on a few rows (must agree).
4. **Export.** The serving bundle (:func:`xsell.export.run.export_model`: TorchScript + torch.export, parity
   checked against the eager model) and a FAISS index of the item vectors (``--factory``), with recall@10
   of the index against exact search (blocked top-k) on ``--recall-queries`` test queries per ``nprobe``.
5. **Serving.** Batch-1 latency (p50 / p99 over ``--calls`` test histories): the bundle's TorchScript
   scorer (exact top-10 over the catalog) and the retriever (query tower + FAISS index, history excluded).

Wall and CPU seconds are recorded (the machine may be shared). Writes
``benchmarks/results/million_items.json`` (``--out``; after every step) and the ``million_items`` block of
``docs/scale.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, machine_info, markers, package_version, update_doc, write_results  # noqa: E402

from xsell.data.datamodule import SequenceDataModule  # noqa: E402
from xsell.data.schema import FIRST_INDEX  # noqa: E402
from xsell.data.synthetic import synthetic_shop  # noqa: E402
from xsell.evaluation.blocked import ITEM_BLOCK, DotProductScorer, blocked_top_k  # noqa: E402
from xsell.evaluation.protocol import RankingEvaluation  # noqa: E402
from xsell.evaluation.ranking import target_ranks  # noqa: E402
from xsell.evaluation.table import rank_table, top_k_items  # noqa: E402
from xsell.export.bundle import load_bundle  # noqa: E402
from xsell.export.run import export_model  # noqa: E402
from xsell.models import SASRec  # noqa: E402
from xsell.nn.losses import SampledSoftmax  # noqa: E402
from xsell.retrieval import build_item_index  # noqa: E402
from xsell.retrieval.recall import recall_at_k  # noqa: E402
from xsell.retrieval.retriever import Retriever  # noqa: E402
from xsell.training.module import NextItemModule  # noqa: E402

SECTION = "million_items"
TITLE = "## A million-item catalog end to end"
RESULTS = ROOT / "benchmarks" / "results" / "million_items.json"
DOC = ROOT / "docs" / "scale.md"
MAX_LEN, DIM, KS, K = 50, 64, (10, 20), 10


def peak_rss_reset() -> None:
    """Reset this process's resident-memory high-water mark (Linux: ``/proc/self/clear_refs``)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """Peak resident memory since the last :func:`peak_rss_reset` (``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Phase:
    """Wall seconds, CPU seconds and peak resident memory of a ``with`` block."""

    def __enter__(self) -> Phase:
        peak_rss_reset()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        self.peak_mb = peak_rss_mb()

    def to_dict(self, **extra: Any) -> dict[str, Any]:
        return {"wall_seconds": round(self.wall, 2), "cpu_seconds": round(self.cpu, 2),
                "peak_rss_mb": round(self.peak_mb), **extra}


class Stopwatch(Phase):
    """A :class:`Phase` summed over several ``with`` blocks (peak memory set by the caller)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.peak_mb = float("nan")

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self.started[0]
        self.cpu += time.process_time() - self.started[1]


class LargestTensor(TorchDispatchMode):
    """The largest tensor any operator returns while active (forward and backward), with its operator."""

    def __init__(self) -> None:
        super().__init__()
        self.numel, self.shape, self.op = 0, (), ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        for value in tree_leaves(out):
            if isinstance(value, torch.Tensor) and value.numel() > self.numel:
                self.numel, self.shape, self.op = value.numel(), list(value.shape), str(func)
        return out


def percentiles(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3), "calls": len(ordered)}


def latency(call, inputs: list, warmup: int = 20) -> dict[str, float]:  # noqa: ANN001
    """Wall time of each ``call(x)`` over ``inputs`` (after ``warmup`` untimed calls), in milliseconds."""
    times = []
    with torch.no_grad():
        for i, x in enumerate(inputs[:warmup] + inputs):
            start = time.perf_counter()
            call(x)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return percentiles(times)


def data_step(args: argparse.Namespace) -> tuple[SequenceDataModule, dict[str, Any]]:
    with Phase() as phase:
        shop = synthetic_shop(n_events=args.events, seed=args.seed, n_users=args.users, n_items=args.items)
        datamodule = SequenceDataModule(shop, max_len=MAX_LEN, batch_size=args.batch_size, eval_batch_size=1024,
                                        catalog_items=True, seed=args.seed)
        datamodule.setup()
    counts = datamodule.prepared.item_counts()
    summary = {k: v for k, v in datamodule.prepared.summary().items() if k != "columns"}
    return datamodule, phase.to_dict(
        events=args.events, users=args.users, catalog_items=args.items, item_index_size=datamodule.prepared.num_items,
        items_in_training=int((counts[FIRST_INDEX:] > 0).sum()), test_targets=len(datamodule.test_set),
        training_windows=len(datamodule.train_dataloader().dataset), summary=summary)


def train_step(args: argparse.Namespace, datamodule: SequenceDataModule) -> tuple[SASRec, dict[str, Any]]:
    pl.seed_everything(args.seed, verbose=False)
    model = SASRec(datamodule.prepared.num_items, dim=DIM, layers=1, heads=1, dropout=0.1, max_len=MAX_LEN)
    loss = SampledSoftmax(num_negatives=1024, proposal="popularity", logq_correction=True)
    module = NextItemModule(model, loss=loss, item_counts=datamodule.prepared.item_counts(), warmup_fraction=None,
                            optimizer=lambda parameters: torch.optim.Adam(parameters, lr=args.lr))
    batch = next(iter(datamodule.train_dataloader()))
    with LargestTensor() as largest:  # one step's forward and backward, outside the timed run
        module.training_step(batch, 0).backward()
    module.zero_grad(set_to_none=True)
    trainer = pl.Trainer(accelerator="cpu", max_steps=args.steps, limit_val_batches=0, num_sanity_val_steps=0,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    with Phase() as phase:
        trainer.fit(module, datamodule=datamodule)
    labelled = int((batch.labels > 0).sum())
    return model.eval(), phase.to_dict(
        steps=int(trainer.global_step), batch_size=args.batch_size, steps_per_second=trainer.global_step / phase.wall,
        loss="SampledSoftmax(num_negatives=1024, proposal=popularity, logq_correction=True)", optimizer=f"Adam lr {args.lr}",
        parameters=sum(p.numel() for p in model.parameters()),
        largest_tensor_of_a_step={"shape": largest.shape, "op": largest.op},
        labelled_rows_of_that_step=labelled,
        full_logits_would_be=[len(batch), batch.labels.shape[1], datamodule.prepared.num_items])


@torch.no_grad()
def evaluation_step(args: argparse.Namespace, model: SASRec, datamodule: SequenceDataModule) -> dict[str, Any]:
    batches, users = [], 0
    for batch in datamodule.test_dataloader():  # 1,024 targets a batch, ordered by history length
        batches.append(batch)
        users += len(batch)
        if users >= args.eval_users:
            break
    with Phase() as encode:
        queries = [model.encode(batch) for batch in batches]  # [B, D] each
        items = model.item_embeddings()  # [N, D]
    num_items = len(items)

    # the bare product and the ranking alternate batch by batch, so that a shared machine's load falls on both
    product, ranking = Stopwatch(), Stopwatch()
    evaluation = RankingEvaluation(KS, exclude_seen=True)
    peak_rss_reset()
    for q, batch in zip(queries, batches, strict=True):
        with product:  # the same tiles as the blocked ranking, nothing else
            for start in range(FIRST_INDEX, num_items, ITEM_BLOCK):
                items[start:start + ITEM_BLOCK] @ q.T  # [block, B], dropped
        with ranking:
            evaluation.update_vectors(q, items, batch)
    product.peak_mb = ranking.peak_mb = peak_rss_mb()
    metrics = evaluation.compute()

    # the rank table (ranks + top-20 lists) of a dot-product scorer, and the dense path on a few rows
    scorer = DotProductScorer(lambda batch: model.encode(batch), items)
    table_batches = [b for part in batches for b in part.split(256)][: max(1, args.table_users // 256)]
    with Phase() as table_phase:
        table = rank_table(scorer, table_batches, k=KS[-1])
    check = table_batches[0].split(64)[0]
    scores = scorer(check)  # [64, N] dense
    dense_ranks = target_ranks(scores, check.target, check.exclude)
    dense_top = top_k_items(scores, KS[-1], check.exclude)
    blocked_rows = table.filter(table["row"].is_in(check.row.tolist())).sort("row")
    order = check.row.argsort()
    same_ranks = blocked_rows["rank"].to_list() == dense_ranks[order].tolist()
    same_lists = blocked_rows["top_k"].to_list() == [[i for i in row if i >= 0] for row in dense_top[order].tolist()]
    evaluated = sum(len(b) for b in batches)
    return {
        "users": evaluated, "items": num_items, "dim": int(items.shape[1]), "eval_batch_size": len(batches[0]),
        "item_block": ITEM_BLOCK, "threads": torch.get_num_threads(), "seen_items": "excluded",
        "product_tflop": round(2 * evaluated * (num_items - FIRST_INDEX) * items.shape[1] / 1e12, 3),
        "encode": encode.to_dict(),
        "bare_product": product.to_dict(),
        "blocked_ranking": ranking.to_dict(metrics=metrics),
        "ratio_wall": round(ranking.wall / product.wall, 3),
        "ratio_cpu": round(ranking.cpu / product.cpu, 3),
        "rank_table": table_phase.to_dict(users=table.height, k=KS[-1],
                                          ratio_wall_to_bare_per_user=round(
                                              (table_phase.wall / table.height) / (product.wall / evaluated), 3)),
        "dense_check_rows": len(check), "dense_check_same_ranks": same_ranks, "dense_check_same_lists": same_lists,
    }


def export_step(args: argparse.Namespace, model: SASRec, datamodule: SequenceDataModule, folder: Path,
                metrics: dict[str, float]) -> dict[str, Any]:
    config = OmegaConf.create({"model": {"_target_": "xsell.models.SASRec", "dim": DIM, "layers": 1, "heads": 1},
                               "inputs": {"event_types": False, "time_gaps": False}, "exclude_seen": True})
    with Phase() as phase:
        path = export_model(model, datamodule.prepared, config, folder / "bundle", metrics={"test": metrics})
    bundle = load_bundle(path)
    files = {name: entry["bytes"] for name, entry in bundle.manifest["files"].items()}
    with Phase() as index_phase:
        index = build_item_index(model, datamodule.prepared.item_vocab, factory=args.factory, search_params="nprobe=16",
                                 seed=args.seed)
        index.save(folder / "index")
    return {"bundle": phase.to_dict(files_bytes=files, parity=bundle.manifest["parity"]),
            "index": index_phase.to_dict(factory=args.factory, vectors=len(index), bytes=index.memory_bytes())}, \
        bundle, index


@torch.no_grad()
def serving_step(args: argparse.Namespace, model: SASRec, datamodule: SequenceDataModule, bundle,  # noqa: ANN001
                 index) -> dict[str, Any]:  # noqa: ANN001
    test = datamodule.test_set
    rows = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))
    rows = rows[:max(args.calls, args.recall_queries)]
    histories = [test.items[r:r + 1] for r in rows[:args.calls].tolist()]  # [1, L] left-padded
    exact = {"scorer.pt (exact top-10)": latency(lambda h: bundle.scorer(h, K, None), histories)}
    program = bundle.program()
    exact["scorer.pt2 (exact top-10)"] = latency(lambda h: program(h, K, None), histories[: max(50, args.calls // 4)])

    # recall of the index against exact search, per nprobe, on test queries (no exclusions on either side)
    some = [test[[r]] for r in rows[:args.recall_queries].tolist()]
    queries = torch.cat([model.encode(b) for b in some])  # [Q, D]
    truth = blocked_top_k(queries, model.item_embeddings(), K).numpy()  # item indices, exact
    recall, per_probe = {}, {}
    retriever = Retriever(model, index, datamodule.prepared.item_vocab, max_len=MAX_LEN)
    for nprobe in (8, 16, 32, 64, 128):
        index.set_search_params(f"nprobe={nprobe}")
        found = index.search(queries.numpy(), K)
        recall[nprobe] = round(recall_at_k(found.keys, truth), 4)
        per_probe[nprobe] = latency(lambda b: retriever.retrieve(b, K), some[: max(50, args.calls // 4)])
    chosen = args.nprobe
    index.set_search_params(f"nprobe={chosen}")
    served = latency(lambda b: retriever.retrieve(b, K), [test[[r]] for r in rows[:args.calls].tolist()])
    return {"exact": exact, "index": {"nprobe": chosen, "recall@10": recall[chosen], **served},
            "recall@10_by_nprobe": recall, "retriever_latency_by_nprobe": per_probe,
            "recall_queries": len(some)}


def render(results: dict[str, Any]) -> str:
    start, end = markers(SECTION)
    m, d, t, e, x, s = (results[key] for key in ("machine", "data", "training", "evaluation", "export", "serving"))
    lines = [
        start, "",
        f"SASRec (64-d, 1 block) on the synthetic shop with {d['catalog_items']:,} catalog items "
        f"({d['items_in_training']:,} of them in the training log), {d['users']:,} users and {d['events']:,} events "
        f"(leave-one-out, histories of {MAX_LEN}; {d['test_targets']:,} users have a test target, "
        f"{e['users']:,} of them evaluated); one process, {e['threads']} torch threads. Generated by "
        "`benchmarks/million_items.py`.",
        "",
        f"- Command: `{results['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, load average at start "
        f"{m['load_average_at_start']} (shared with other jobs); date {results['date']}",
        f"- xsell {m['xsell_commit']}{' (uncommitted changes)' if m['xsell_modified'] else ''}: Python "
        f"{m['python']}, torch {m['torch']}, faiss {results['faiss']}, pytorch-lightning {m['pytorch_lightning']}",
        "",
        "| step | what | wall s | CPU s | peak RSS MiB |",
        "|---|---|---:|---:|---:|",
        f"| data | generate {d['events']:,} events, prepare (polars), {d['training_windows']:,} training windows | "
        f"{d['wall_seconds']:.1f} | {d['cpu_seconds']:.1f} | {d['peak_rss_mb']:,} |",
        f"| training | {t['steps']} steps of {t['batch_size']} sequences, sampled softmax (1,024 popularity "
        f"negatives, logQ), {t['steps_per_second']:.2f} steps/s | {t['wall_seconds']:.1f} | {t['cpu_seconds']:.1f} | "
        f"{t['peak_rss_mb']:,} |",
        f"| evaluation: encode | {e['users']:,} test histories -> query vectors | {e['encode']['wall_seconds']:.1f} | "
        f"{e['encode']['cpu_seconds']:.1f} | {e['encode']['peak_rss_mb']:,} |",
        f"| evaluation: bare product | {e['users']:,} x {e['items']:,} x {e['dim']} ({e['product_tflop']} TFLOP) in "
        f"{e['eval_batch_size']} x {e['item_block']} tiles, nothing else | {e['bare_product']['wall_seconds']:.1f} | "
        f"{e['bare_product']['cpu_seconds']:.1f} | {e['bare_product']['peak_rss_mb']:,} |",
        f"| evaluation: full ranking | the same tiles, ranks counted, seen items excluded: **{e['ratio_wall']:.2f}x** "
        f"the bare product (wall), {e['ratio_cpu']:.2f}x (CPU) | {e['blocked_ranking']['wall_seconds']:.1f} | "
        f"{e['blocked_ranking']['cpu_seconds']:.1f} | {e['blocked_ranking']['peak_rss_mb']:,} |",
        f"| evaluation: rank table | ranks + top-{e['rank_table']['k']} lists of {e['rank_table']['users']:,} users, "
        f"{e['rank_table']['ratio_wall_to_bare_per_user']:.2f}x the bare product per user | "
        f"{e['rank_table']['wall_seconds']:.1f} | {e['rank_table']['cpu_seconds']:.1f} | "
        f"{e['rank_table']['peak_rss_mb']:,} |",
        f"| export: bundle | TorchScript + torch.export, parity checked, "
        f"{sum(x['bundle']['files_bytes'].values()) / 2**20:,.0f} MiB | {x['bundle']['wall_seconds']:.1f} | "
        f"{x['bundle']['cpu_seconds']:.1f} | {x['bundle']['peak_rss_mb']:,} |",
        f"| export: index | FAISS `{x['index']['factory']}`, {x['index']['vectors']:,} vectors, "
        f"{x['index']['bytes'] / 2**20:,.0f} MiB | {x['index']['wall_seconds']:.1f} | {x['index']['cpu_seconds']:.1f} | "
        f"{x['index']['peak_rss_mb']:,} |",
        "",
        f"- Test metrics (full ranking, seen items excluded, {e['users']:,} users): "
        + ", ".join(f"{k} {v:.4f}" for k, v in e["blocked_ranking"]["metrics"].items() if k.startswith(("ndcg", "recall"))),
        f"- Largest tensor of one training step (forward + backward): {t['largest_tensor_of_a_step']['shape']} "
        f"(`{t['largest_tensor_of_a_step']['op']}`); full logits would be {t['full_logits_would_be']}.",
        f"- Rank table against the dense `[rows, N]` path on {e['dense_check_rows']} users: same ranks "
        f"{e['dense_check_same_ranks']}, same top-{e['rank_table']['k']} lists {e['dense_check_same_lists']}.",
        "- Bundle parity (TorchScript and torch.export against the eager model, random histories): "
        + "; ".join(f"{name}: {p['index_mismatches']} index mismatches, max score difference {p['max_abs_diff']:.1e}"
                    for name, p in x["bundle"]["parity"].items()),
        "",
        "| batch-1 serving | p50 ms | p99 ms | calls |",
        "|---|---:|---:|---:|",
    ]
    for name, row in s["exact"].items():
        lines.append(f"| {name} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['calls']} |")
    for nprobe, row in s["retriever_latency_by_nprobe"].items():
        lines.append(f"| retriever: query tower + `{x['index']['factory']}`, nprobe={nprobe}, recall@10 "
                     f"{s['recall@10_by_nprobe'][nprobe]:.3f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                     f"{row['calls']} |")
    lines += ["", f"Recall@10 of the index against exact top-10 over {s['recall_queries']} test queries.", "", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000, help="users (not every one gets a test target)")
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--eval-users", type=int, default=100_000, help="test targets ranked (one per user)")
    parser.add_argument("--table-users", type=int, default=5_000, help="users of the rank table with top-k lists")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--factory", default="IVF1024,Flat")
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--calls", type=int, default=400, help="timed batch-1 calls")
    parser.add_argument("--recall-queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-doc", action="store_true", help="do not write the docs block")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON, rewritten after every step")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="only rewrite the docs block from a results JSON of an earlier run")
    args = parser.parse_args()
    if args.render:
        update_doc(SECTION, TITLE, render(json.loads(args.render.read_text())), doc=DOC)
        return
    machine = machine_info()
    results: dict[str, Any] = {
        "command": shlex.join(["python", "benchmarks/million_items.py", *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine, "faiss": package_version("faiss-cpu"), "arguments": vars(args),
    }

    def report(name: str, value: dict[str, Any]) -> None:
        results[name] = value
        print(name, json.dumps(value, indent=1, default=str), flush=True)
        write_results(args.out, results, default=str)  # a late failure keeps the rest

    datamodule, data = data_step(args)
    report("data", {k: v for k, v in data.items() if k != "summary"})
    model, training = train_step(args, datamodule)
    report("training", training)
    evaluation = evaluation_step(args, model, datamodule)
    report("evaluation", evaluation)
    with tempfile.TemporaryDirectory() as tmp:
        exported, bundle, index = export_step(args, model, datamodule, Path(tmp),
                                              evaluation["blocked_ranking"]["metrics"])
        report("export", exported)
        report("serving", serving_step(args, model, datamodule, bundle, index))
    if args.no_doc:
        return
    update_doc(SECTION, TITLE, render(results), doc=DOC)


if __name__ == "__main__":
    main()
