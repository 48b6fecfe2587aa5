"""Cold start and memory: `scr-bot run` in HTTP mode against a bare Bolt app served the same way.

    python bench/bench_startup.py [--runs 3]

Cold start is the time from launching the process to the first 200 from GET /healthz (the bot
loads and validates all content and schedules and connects to Redis before it binds the port).
RSS is the resident memory of the whole process tree (gunicorn master and worker) once it is up.
Both run with one gunicorn worker, the local fake Slack and a real Redis.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test fake Slack (not shipped in the package)

from bench.bench_lookup import free_port  # noqa: E402
from bot.storage.embedded_redis import EmbeddedRedis  # noqa: E402
from fakeslack import FakeSlack  # noqa: E402


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, from /proc (Linux)."""
    pids, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            children = []
        for c in map(int, children):
            if c not in pids:
                pids.add(c)
                frontier.append(c)
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cold_start(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**env, "PORT": str(port)}, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - t0 > 60:
                raise SystemExit(f"{cmd} did not start")
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        time.sleep(0.5)
        return elapsed, tree_rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="scr-startup-")))
    url = server.start()
    slack = FakeSlack().serve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET="s", SLACK_API_URL=slack.url, REDIS_URL=url,
               WEB_CONCURRENCY="1", SCR_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), BARE_PROCESS_BEFORE_RESPONSE="1")
    try:
        rows = {}
        for name, cmd in [("bare Bolt app (Flask + gunicorn)", [sys.executable, "bench/bare_app.py"]),
                          ("scr-bot run --no-scheduler", [sys.executable, "-m", "bot", "run", "--no-scheduler"])]:
            runs = [cold_start(cmd, env) for _ in range(args.runs)]
            rows[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        print(f"cold start to first healthy response, median of {args.runs}; RSS of the process tree once up:")
        for name, (secs, rss) in rows.items():
            print(f"  {name:<34} {secs:6.2f} s   {rss:6.1f} MiB")
        (b_s, b_m), (o_s, o_m) = rows.values()
        print(f"  ratio scr-bot / bare: start {o_s / b_s:.2f}x, memory {o_m / b_m:.2f}x")
    finally:
        slack.close()
        server.stop()


if __name__ == "__main__":
    main()
