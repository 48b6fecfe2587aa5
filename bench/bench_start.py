"""CPU per process start with the search indexes built (cold cache) against read from the cache folder (warm).

    python bench/bench_start.py [--runs 5]

Every process that answers lookups builds or reads the two search indexes at start (bot.search.indexcache).
This runs, as real processes, `scr-bot ask neglect` and `scr-bot run --no-scheduler` (gunicorn, a real Redis,
the local fake Slack, stopped once /healthz answers) ``--runs`` times each with the index files removed before
each run (cold: built, then written) and with them kept (warm: read), in the same run and the same cache folder
(so the masking's name lists are warm in both), and prints the median CPU (user + sys, the process and its
children) of each and the ratio warm / cold.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Real interpreters from scratch: the tests' start_bot forks warm processes (tests/warmstart.py), whose CPU is not
# this process's children's and whose imports are already paid.
os.environ["SCR_TEST_COLD"] = "1"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the conftest helpers and the fake Slack (not shipped in the package)

from bot.search import indexcache  # noqa: E402
from conftest import bot_env, free_port, start_bot, start_redis, stop_bot  # noqa: E402
from fakeslack import FakeSlack  # noqa: E402


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def cpu_of(run: Callable[[], None]) -> float:
    before = children_cpu()
    run()
    return children_cpu() - before


def forget_indexes(cache: Path) -> None:
    for kept in cache.glob(f"{indexcache.PREFIX}*"):
        kept.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scr-bench-start-"))
    server = start_redis(tmp)
    slack = FakeSlack().serve()
    cache = tmp / "cache"
    env = bot_env(slack, server.url, tmp, SCR_CACHE_DIR=str(cache), SCR_LOG_LEVEL="WARNING")

    def ask() -> None:
        subprocess.run([sys.executable, "-m", "bot", "ask", "neglect"], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip

    def start() -> None:
        stop_bot(start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port()))

    try:
        ask()  # the name lists and anything else kept in the cache folder, before either is measured
        print(f"CPU (user + sys) per process, median of {args.runs}; cold: index files removed first, warm: kept")
        for name, run in [("scr-bot ask neglect", ask), ("scr-bot run --no-scheduler", start)]:
            cold, warm = [], []
            for _ in range(args.runs):  # interleaved, so machine load drifts into both alike
                forget_indexes(cache)
                cold.append(cpu_of(run))
                warm.append(cpu_of(run))
            c, w = statistics.median(cold), statistics.median(warm)
            print(f"  {name:<28} cold {c:5.2f} s   warm {w:5.2f} s   warm/cold {w / c:.2f}x   saved {c - w:.2f} s")
    finally:
        slack.close()
        server.process.terminate()
        server.process.wait(10)


if __name__ == "__main__":
    main()
