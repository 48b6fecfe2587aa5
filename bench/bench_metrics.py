"""What metrics cost a request, against the lookup the request serves, measured in the same run.

    python bench/bench_metrics.py [--reps 20]

The metrics are in multiprocess mode (values in mmapped files), as under gunicorn: the costlier of the two.
For every query of the lookup table, the same run times:

1. without: ``Lookup.answer()`` alone (what a ``/scr`` lookup spends in the bot);
2. with: the same, wrapped in everything ``bot.slack.web`` adds per request (the request id and its context
   variable, two clock reads, the latency histogram's ``observe``) plus a Web API call's counter;
3. the metrics alone, many times over, for a figure the noise of (1) and (2) cannot hide.

Target: metrics under 5% of the lookup's time. Exits 1 if not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the query table (not shipped in the package)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scr-bench-metrics-")  # before bot.metrics

from test_lookup_queries import TABLE  # noqa: E402

from bot import logs, metrics  # noqa: E402
from bot.content.corpus import load_corpus  # noqa: E402
from bot.search.lookup import Lookup  # noqa: E402

TARGET = 0.05


def instrumented(run: object) -> None:
    """One request's metrics and request id, around ``run`` (as ``bot.slack.web.slack_events`` does)."""
    arrived = time.perf_counter()
    token = logs.request_id.set(logs.new_request_id(None))
    try:
        run()  # type: ignore[operator]
        metrics.SLACK_CALLS.labels("chat.postEphemeral").inc()
    finally:
        metrics.REQUEST_SECONDS.labels("command").observe(time.perf_counter() - arrived)
        logs.request_id.reset(token)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20, help="rounds over the query table")
    args = parser.parse_args()
    lookup = Lookup(load_corpus(ROOT / "content"))
    queries = [row[0] for row in TABLE]
    for q in queries:  # warm caches for both
        lookup.answer(q)
        instrumented(lambda q=q: lookup.answer(q))

    without: list[float] = []
    with_metrics: list[float] = []
    for _ in range(args.reps):
        for q in queries:  # interleaved, so drift in the machine's speed hits both alike
            t = time.perf_counter()
            lookup.answer(q)
            without.append(time.perf_counter() - t)
            t = time.perf_counter()
            instrumented(lambda q=q: lookup.answer(q))
            with_metrics.append(time.perf_counter() - t)

    n = 20000
    t = time.perf_counter()
    for _ in range(n):
        instrumented(lambda: None)
    alone = (time.perf_counter() - t) / n

    base, instr = statistics.median(without), statistics.median(with_metrics)
    share = alone / base
    print(f"queries: {len(queries)} x {args.reps} rounds, multiprocess mode")
    print(f"lookup without metrics   median {base * 1e3:8.3f} ms")
    print(f"lookup with metrics      median {instr * 1e3:8.3f} ms  ({(instr / base - 1) * 100:+.1f}%, noisy)")
    print(f"metrics alone per request       {alone * 1e6:8.1f} us  = {share * 100:.2f}% of the lookup (target < 5%)")
    return 0 if share < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
