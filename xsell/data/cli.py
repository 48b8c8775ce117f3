"""``xsell-data``: generate (or read), preprocess, split and pack a data set, then print its data card."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from xsell.cli import run_cli
from xsell.data.interactions import Interactions
from xsell.data.prepared import prepare

EXAMPLES = """examples:
  xsell-data                                                    # the synthetic shop (200,000 events)
  xsell-data --sasrec-txt ../shared/data/amazon-games/Video.txt # a SASRec-style 'user item' file
  xsell-data --atomic ../shared/data/ml-100k --min-user-events 5 --min-item-events 5 --json
"""


def load_source(args: argparse.Namespace) -> Interactions:
    """The data set the command line names: the synthetic shop unless a reader and a path are given."""
    from xsell.data import readers, synthetic

    if args.atomic:
        return readers.read_atomic(args.atomic)
    if args.sasrec_txt:
        return readers.read_sasrec_txt(args.sasrec_txt)
    if args.events:
        return readers.read_events(args.events)
    return synthetic.synthetic_shop(n_events=args.n_events, seed=args.seed)


@run_cli
def main(argv: Sequence[str] | None = None) -> None:
    """Run the data pipeline and print a summary table (or ``--json``). Returns None, so that the console
    script (``sys.exit(main())``) exits 0 on success."""
    parser = argparse.ArgumentParser(
        prog="xsell-data", usage="%(prog)s [options]", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Generate (or read) a data set, preprocess, split and pack it as training would, and print "
                    "its data card: users, items, events, sequence lengths, split sizes, seconds.")
    parser.add_argument("--n-events", type=int, default=200_000, help="synthetic shop size (default data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--atomic", help="RecBole atomic directory or .inter file instead of the synthetic shop")
    parser.add_argument("--sasrec-txt", help="SASRec-style 'user item' text file instead of the synthetic shop")
    parser.add_argument("--events", help="parquet/CSV event log with canonical column names")
    parser.add_argument("--split", default="leave_one_out",
                        choices=["leave_one_out", "leave_last_session_out", "temporal", "held_out_users"])
    parser.add_argument("--cutoff", type=float, default=0.9, help="temporal split: quantile or epoch seconds")
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--min-user-events", type=int, default=0)
    parser.add_argument("--min-item-events", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    data = load_source(args)
    prepared = prepare(
        data, split=args.split, max_len=args.max_len, min_user_events=args.min_user_events,
        min_item_events=args.min_item_events, cutoff=args.cutoff if args.split == "temporal" else None,
        session_gap_seconds=1800 if args.split == "leave_last_session_out" else None,
    )
    summary = prepared.summary()
    summary["seconds"] = round(time.perf_counter() - start, 3)
    if data.ground_truth is not None and hasattr(data.ground_truth, "complements"):
        summary["planted_complement_pairs"] = data.ground_truth.complements.height
    if args.json:
        print(json.dumps(summary, default=str))
        return
    table = Table(title=f"xsell data card: {summary['name']}")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key != "name":
            table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    Console().print(table)


if __name__ == "__main__":
    main()
