"""Reflection ingestion: thread-reply events over signed HTTP into the running bot, against real Redis.

    python bench/bench_ingest.py [--rate 500] [--seconds 30] [--duplicates 0.05]

Sends Events API `message` replies to one weekly post's thread at a fixed rate (open loop: latency
is measured from each event's scheduled send time, so a slow server cannot hide its queueing), with
a share of them re-sent as Slack's retries (same event_id and ts, X-Slack-Retry-Num). The same load
is first sent to a bare Bolt app that only acks, served the same way (gunicorn, gthread), as the
baseline. Printed: achieved rate, ack latency p50/p99/max against Slack's 3 s, and for the bot:
stored = sent - duplicates, lost = 0.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test fake Slack (not shipped in the package)

from bench.bench_lookup import free_port, pct, start  # noqa: E402
from bot.content.corpus import load_corpus  # noqa: E402
from bot.reflections.store import ReflectionStore  # noqa: E402
from bot.slack.app import make_client  # noqa: E402
from bot.slack.delivery import SlackDeliveries  # noqa: E402
from bot.storage.embedded_redis import EmbeddedRedis  # noqa: E402
from bot.storage.store import Workspace  # noqa: E402
from bot.storage.store import make_client as redis_client  # noqa: E402
from bot.weekly.poster import WeeklyPoster  # noqa: E402
from bot.weekly.schedules import Schedule  # noqa: E402
from fakeslack import FakeSlack  # noqa: E402

SECRET = "bench-secret"
TEAM = "T0BENCH"
CHANNEL = "C0BENCH"


def build_events(n_unique: int, dup_share: float, thread_ts: str) -> list[tuple[str, dict[str, str]]]:
    rng = random.Random(3)
    base = int(time.time())
    unique = []
    for i in range(n_unique):
        ts = f"{base + 100_000 + i // 1000}.{i:06d}"  # never the weekly post's own ts
        event = {"type": "message", "channel": CHANNEL, "user": f"U{i % 50:04d}", "text": f"Reflection {i} on this week",
                 "ts": ts, "thread_ts": thread_ts, "event_ts": ts, "channel_type": "channel"}  # fmt: skip
        unique.append({"token": "x", "team_id": TEAM, "api_app_id": "A0", "event": event, "type": "event_callback",
                       "event_id": f"Ev{i:08d}", "event_time": base})  # fmt: skip
    out = []
    for envelope in unique:
        out.append((json.dumps(envelope), {}))
        if rng.random() < dup_share:  # Slack's retry of the same event
            out.append((json.dumps(envelope), {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))
    signed = []
    ts = str(int(time.time()))
    for body, extra in out:
        sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        signed.append((body, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
                              "X-Slack-Signature": sig, **extra}))  # fmt: skip
    return signed


def load(port: int, requests: list[tuple[str, dict[str, str]]], rate: float, workers: int = 48) -> dict:
    start_at = time.perf_counter() + 0.5
    latencies: list[float] = [0.0] * len(requests)
    statuses: list[int] = [0] * len(requests)
    counter = iter(range(len(requests)))
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            due = start_at + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            body, headers = requests[i]
            try:
                conn.request("POST", "/slack/events", body, headers)
                resp = conn.getresponse()
                resp.read()
                statuses[i] = resp.status
            except (OSError, http.client.HTTPException):
                statuses[i] = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            latencies[i] = time.perf_counter() - due
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start_at
    return {"latencies": latencies, "statuses": statuses, "elapsed": elapsed}


def report(name: str, res: dict, n: int) -> None:
    lat = res["latencies"]
    ok = sum(1 for s in res["statuses"] if s == 200)
    print(f"  {name:<34} {n / res['elapsed']:6.0f} req/s achieved   p50 {statistics.median(lat) * 1e3:7.1f} ms   "
          f"p99 {pct(lat, 0.99) * 1e3:7.1f} ms   max {max(lat) * 1e3:7.1f} ms   200s {ok}/{n}   "
          f"over 3 s: {sum(1 for x in lat if x > 3)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--web-concurrency", default="2")
    args = parser.parse_args()

    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="scr-ingest-")))
    url = server.start()
    r = redis_client(url)
    slack = FakeSlack().serve()
    procs = []
    try:
        corpus = load_corpus(ROOT / "content")
        schedule = Schedule(id="bench", team=TEAM, channel=CHANNEL)
        thread_ts = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-bench", slack.url), corpus), corpus).deliver(schedule, ignore_time=True).ts
        n_unique = int(args.rate * args.seconds / (1 + args.duplicates))
        requests = build_events(n_unique, args.duplicates, thread_ts)
        dupes = len(requests) - n_unique
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
        env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.url, REDIS_URL=url,
                   WEB_CONCURRENCY=args.web_concurrency, SCR_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))  # fmt: skip
        print(f"{len(requests)} thread-reply events ({n_unique} unique + {dupes} retried duplicates) at "
              f"{args.rate:g}/s for {args.seconds:g} s, signed, over HTTP; scr-bot on {args.web_concurrency} gunicorn "
              "workers, the bare app on 1; load generator on the same 2-core machine")
        results = {}
        for name, cmd, extra in [
            ("bare Bolt app (acks only)", [sys.executable, "bench/bare_app.py"], {"BARE_PROCESS_BEFORE_RESPONSE": "1"}),
            ("scr-bot (stores in Redis)", [sys.executable, "-m", "bot", "run", "--no-scheduler"], {}),
        ]:
            port = free_port()
            proc = start(cmd, {**env, **extra}, port)
            procs.append(proc)
            results[name] = load(port, requests, args.rate)
            proc.terminate()
            proc.wait(20)
        for name, res in results.items():
            report(name, res, len(requests))
        bare, ours = results["bare Bolt app (acks only)"], results["scr-bot (stores in Redis)"]
        print(f"  ratio p50 {statistics.median(ours['latencies']) / statistics.median(bare['latencies']):.2f}x, "
              f"p99 {pct(ours['latencies'], 0.99) / pct(bare['latencies'], 0.99):.2f}x the bare app")
        stored = len(ReflectionStore(r, 365).for_thread(Workspace(TEAM), CHANNEL, thread_ts))
        print(f"  sent {len(requests)}, duplicates {dupes}, stored {stored} (expected {n_unique}), "
              f"lost {n_unique - stored}")
        if stored != n_unique:
            raise SystemExit(1)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        slack.close()
        r.close()
        server.stop()


if __name__ == "__main__":
    main()
