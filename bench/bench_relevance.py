"""Relevance of /scr answers, scored on the practitioner query table (tests/relevance_table.py).

    python bench/bench_relevance.py [--misses]

Prints top-1, top-3 and MRR per asking sector, for full sentences, for live concerns and overall.
A row counts at rank r when the first
point that really discusses the query is the r-th result; a "not covered" row counts at rank 1 when
the bot says the briefings do not cover the topic. `--misses` lists every query not answered in the
top 3, with what came back. tests/test_relevance.py fails when overall top-3 falls below 95%, sentences
below 90%, or any live concern is not answered with the safety net first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from relevance_table import evaluate  # noqa: E402

from bot.content.corpus import load_corpus  # noqa: E402
from bot.search.lookup import Lookup  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", action="store_true", help="list the queries without a relevant point in the top 3")
    args = parser.parse_args()
    lookup = Lookup(load_corpus(ROOT / "content"))
    scored, table = evaluate(lookup)
    print(f"relevance on {len(scored)} practitioner queries ({len(lookup.corpus.points)} points)")
    print(f"  {'asking sector':<14} {'queries':>7} {'top-1':>7} {'top-3':>7} {'MRR':>6}")
    for sector, m in table.items():
        print(f"  {sector:<14} {m['n']:>7} {m['top1']:>7.1%} {m['top3']:>7.1%} {m['mrr']:>6.3f}")
    if args.misses:
        for s in scored:
            if s.rank is None or s.rank > 3:
                print(f"  miss [{s.row.sector}] {s.row.query!r}: rank {s.rank}; got {s.got}")


if __name__ == "__main__":
    main()
