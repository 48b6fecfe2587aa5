"""Lookup speed: search time per query, and end-to-end signed /scr latency over HTTP.

    python bench/bench_lookup.py [--requests 400] [--seconds 10] [--only throughput]

1. Search: median and p99 of Lookup.answer() (parse, typo-tolerant matching, BM25F ranking) per query
   over the 40+ query table, against a naive substring filter over the same corpus in the same run.
2. End to end: one keep-alive connection sending signed /scr commands to `scr-bot run` (gunicorn,
   embedded Redis, local fake Slack), against a bare Bolt app that only acks, served the same way,
   in both of Bolt's ack modes. Ratios are against the bare app measured in this run.
3. Throughput (issue 10's target): signed `/scr neglect` from 8 keep-alive connections (8 client
   processes) for a fixed time, against `scr-bot run` and against the bare Bolt app with
   process_before_response=True that only acks, both gunicorn gthread 1 worker x 8 threads, in the
   same run. Target: >= 0.7x the bare app's requests/s, p99 within 2x the bare app's.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test fake Slack and query table (not shipped in the package)

from test_lookup_queries import TABLE  # noqa: E402

from bot.content.corpus import load_corpus  # noqa: E402
from bot.search.lookup import Lookup  # noqa: E402
from fakeslack import FakeSlack  # noqa: E402

SECRET = "bench-secret"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def bench_search(reps: int = 30) -> None:
    corpus = load_corpus(ROOT / "content")
    lookup = Lookup(corpus)
    queries = [row[0] for row in TABLE]

    def substring(q: str) -> list:
        q = q.lower()
        return [p for p in corpus.points if q in (p.title + " " + p.summary + " " + " ".join(p.key_messages)).lower()]

    for q in queries:  # warm caches (stemmer lru_cache) for both
        lookup.answer(q)
        substring(q)
    ours, base = [], []
    for _ in range(reps):
        for q in queries:
            t = time.perf_counter()
            lookup.answer(q)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            substring(q)
            base.append(time.perf_counter() - t)
    m, b = statistics.median(ours), statistics.median(base)
    print(f"search over {len(corpus.points)} points, {len(queries)} queries x {reps}:")
    print(f"  scr-bot lookup     median {m * 1e3:.3f} ms   p99 {pct(ours, 0.99) * 1e3:.3f} ms")
    print(f"  substring filter   median {b * 1e3:.3f} ms   p99 {pct(base, 0.99) * 1e3:.3f} ms")
    print(f"  ratio (median)     {m / b:.1f}x the substring baseline; target < 1 ms median: {'met' if m < 1e-3 else 'NOT met'}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed_command(text: str) -> tuple[str, dict[str, str]]:
    body = urlencode({"team_id": "T0BENCH", "channel_id": "C0BENCH", "user_id": "U0BENCH", "command": "/scr",
                      "text": text, "response_url": "http://127.0.0.1:9/r", "trigger_id": "t"})
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                  "X-Slack-Signature": sig}


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env={**env, "PORT": str(port)}, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{cmd} did not start")


def measure(port: int, texts: list[str], n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for i in range(n + 20):
        body, headers = signed_command(texts[i % len(texts)])
        t = time.perf_counter()
        conn.request("POST", "/slack/events", body, headers)
        resp = conn.getresponse()
        resp.read()
        elapsed = time.perf_counter() - t
        assert resp.status == 200, resp.status
        if i >= 20:  # warm-up
            out.append(elapsed)
    conn.close()
    return out


def bench_http(n: int) -> None:
    slack = FakeSlack().serve()
    tmp = tempfile.mkdtemp(prefix="scr-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.url,
               SCR_DATA_DIR=tmp, WEB_CONCURRENCY="1", SCR_LOG_LEVEL="WARNING")
    texts = [row[0] for row in TABLE]
    results = {}
    runs = [
        ("bare Bolt, default ack (process_before_response=False)", [sys.executable, "bench/bare_app.py"], {}),
        ("bare Bolt, process_before_response=True", [sys.executable, "bench/bare_app.py"],
         {"BARE_PROCESS_BEFORE_RESPONSE": "1"}),
        ("scr-bot run (full lookups, Block Kit answers)", [sys.executable, "-m", "bot", "run", "--no-scheduler"], {}),
    ]
    for name, cmd, extra in runs:
        port = free_port()
        proc = start(cmd, {**env, **extra, "PYTHONPATH": str(ROOT)}, port)
        try:
            results[name] = measure(port, texts if "scr-bot" in name else ["help"], n)
        finally:
            proc.terminate()
            proc.wait(15)
    slack.close()
    print(f"\nend-to-end signed /scr over HTTP, 1 keep-alive connection, {n} requests each:")
    for name, lat in results.items():
        print(f"  {name:<55} p50 {statistics.median(lat) * 1e3:6.2f} ms   p99 {pct(lat, 0.99) * 1e3:6.2f} ms")
    ours = statistics.median(results[runs[2][0]])
    for name, _cmd, _extra in runs[:2]:
        print(f"  ratio scr-bot / {name}: {ours / statistics.median(results[name]):.2f}x (p50)")


def _client(port: int, text: str, start_at: float, stop_at: float, out: Any) -> None:
    """One keep-alive connection sending the same signed command until ``stop_at``; latencies to ``out``."""
    body, headers = signed_command(text)  # signed once: Slack's timestamp window is five minutes
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.time() < start_at:
        time.sleep(0.001)
    lat, errors = [], 0
    while True:
        t = time.perf_counter()
        if time.time() >= stop_at:
            break
        conn.request("POST", "/slack/events", body, headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            errors += 1
        lat.append(time.perf_counter() - t)
    conn.close()
    out.put((lat, errors))


def load(port: int, text: str, connections: int, seconds: float) -> tuple[float, list[float], int]:
    """Requests/s, latencies and errors for ``connections`` client processes over ``seconds``."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 1.0
    procs = [ctx.Process(target=_client, args=(port, text, start_at, start_at + seconds, queue))
             for _ in range(connections)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    lat = [x for r in results for x in r[0]]
    return len(lat) / seconds, lat, sum(r[1] for r in results)


def bench_throughput(seconds: float, connections: int = 8, rounds: int = 2) -> None:
    slack = FakeSlack().serve()
    tmp = tempfile.mkdtemp(prefix="scr-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.url,
               SCR_DATA_DIR=tmp, WEB_CONCURRENCY="1", SCR_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    apps = {
        "bare Bolt (process_before_response=True, ack only)": ([sys.executable, "bench/bare_app.py"],
                                                              {"BARE_PROCESS_BEFORE_RESPONSE": "1"}),
        "scr-bot run (/scr neglect, full answer)": ([sys.executable, "-m", "bot", "run", "--no-scheduler"], {}),
    }
    figures: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in apps}
    procs = {}
    try:
        for name, (cmd, extra) in apps.items():
            port = free_port()
            procs[name] = (start(cmd, {**env, **extra}, port), port)
            load(port, "neglect", connections, 1.0)  # warm-up (and the answer cache's first miss)
        for _ in range(rounds):  # alternate, so background load on a shared machine hits both alike
            for name, (_proc, port) in procs.items():
                rps, lat, errors = load(port, "neglect", connections, seconds)
                figures[name].append((rps, statistics.median(lat), pct(lat, 0.99), errors))
    finally:
        for proc, _port in procs.values():
            proc.terminate()
            proc.wait(15)
        slack.close()
    print(f"\nthroughput: signed /scr neglect, {connections} keep-alive connections, {rounds} x {seconds:.0f} s each, "
          "gunicorn gthread 1 worker x 8 threads:")
    best = {}
    for name, rows in figures.items():
        rps = statistics.median(r[0] for r in rows)
        p50 = statistics.median(r[1] for r in rows)
        p99 = statistics.median(r[2] for r in rows)
        errors = sum(r[3] for r in rows)
        best[name] = (rps, p99)
        print(f"  {name:<52} {rps:8.0f} req/s   p50 {p50 * 1e3:6.2f} ms   p99 {p99 * 1e3:6.2f} ms   errors {errors}")
    (bare_rps, bare_p99), (ours_rps, ours_p99) = best.values()
    print(f"  ratio req/s  {ours_rps / bare_rps:.2f}x the bare app (target >= 0.70x): "
          f"{'met' if ours_rps / bare_rps >= 0.7 else 'NOT met'}")
    print(f"  ratio p99    {ours_p99 / bare_p99:.2f}x the bare app (target <= 2x): "
          f"{'met' if ours_p99 / bare_p99 <= 2 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput round")
    parser.add_argument("--only", choices=("search", "latency", "throughput"), help="run one part only")
    args = parser.parse_args()
    if args.only in (None, "search"):
        bench_search()
    if args.only in (None, "latency"):
        bench_http(args.requests)
    if args.only in (None, "throughput"):
        bench_throughput(args.seconds)


if __name__ == "__main__":
    main()
