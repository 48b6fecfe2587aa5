"""Fan-out: one week's posts to many channels against a rate-limiting local Slack.

    python bench/bench_fanout.py [--channels 1000] [--workers 16] [--workspace-rate 100] [--random-429 0.02]

The local Slack enforces ~1 message/s per channel (burst 3), a workspace-wide cap, and answers a
random share of calls with 429 + Retry-After: 1. The bot posts through WeeklyPoster.deliver_all
(slack-sdk's retry handlers honour Retry-After). Printed: total time against the rate-limit floor
(channels / workspace rate), measured in the same run, plus lost (channels with no post) and
duplicates (channels with more than one) - both must be 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test fake Slack (not shipped in the package)

from bot.content.corpus import load_corpus  # noqa: E402
from bot.slack.app import make_client  # noqa: E402
from bot.slack.delivery import SlackDeliveries  # noqa: E402
from bot.storage.embedded_redis import EmbeddedRedis  # noqa: E402
from bot.storage.store import make_client as redis_client  # noqa: E402
from bot.weekly.poster import WeeklyPoster  # noqa: E402
from bot.weekly.schedules import Schedule  # noqa: E402
from fakeslack import FakeSlack, RateLimits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--workspace-rate", type=float, default=100.0, help="workspace-wide messages per second")
    parser.add_argument("--random-429", type=float, default=0.02, help="share of calls answered 429 at random")
    args = parser.parse_args()

    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="scr-fanout-")))
    r = redis_client(server.start())
    slack = FakeSlack().serve()
    slack.limits = RateLimits(per_channel=1.0, burst=3, workspace_per_second=args.workspace_rate,
                              random_429=args.random_429, retry_after=1)
    try:
        corpus = load_corpus(ROOT / "content")
        monday = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/London"))
        slack.clock = monday.timestamp
        schedules = [Schedule(id=f"bench-{i:04d}", team="T0BENCH", channel=f"C{i:08d}") for i in range(args.channels)]
        poster = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-bench", slack.url), corpus), corpus)
        t0 = time.perf_counter()
        results = poster.deliver_all(schedules, monday, workers=args.workers)
        rounds = 1
        while any(x.outcome == "retry" for x in results) and rounds < 5:  # what the clock's sweep does
            retry = [s for s, x in zip(schedules, results, strict=True) if x.outcome == "retry"]
            again = {x.schedule: x for x in poster.deliver_all(retry, monday, workers=args.workers)}
            results = [again.get(x.schedule, x) for x in results]
            rounds += 1
        elapsed = time.perf_counter() - t0

        per_channel = {s.channel: 0 for s in schedules}
        for channel, msgs in slack.messages.items():
            per_channel[channel] = sum(1 for m in msgs if (m.get("metadata") or {}).get("event_type"))
        lost = sum(1 for n in per_channel.values() if n == 0)
        dupes = sum(1 for n in per_channel.values() if n > 1)
        floor = args.channels / args.workspace_rate
        outcomes: dict[str, int] = {}
        for x in results:
            outcomes[x.outcome] = outcomes.get(x.outcome, 0) + 1
        print(f"fan-out of one week's posts to {args.channels} channels, {args.workers} workers")
        print(f"  local Slack: 1 msg/s per channel (burst 3), {args.workspace_rate:g} msg/s workspace cap, "
              f"{args.random_429:.0%} random 429s")
        print(f"  total time          {elapsed:7.2f} s")
        print(f"  rate-limit floor    {floor:7.2f} s  (channels / workspace rate)")
        print(f"  ratio               {elapsed / floor:7.2f}x the floor")
        print(f"  429s answered       {slack.limits.limited}")
        print(f"  sweep rounds        {rounds}")
        print(f"  outcomes            {outcomes}")
        print(f"  lost                {lost}")
        print(f"  duplicates          {dupes}")
        if lost or dupes:
            raise SystemExit(1)
    finally:
        slack.close()
        r.close()
        server.stop()


if __name__ == "__main__":
    main()
