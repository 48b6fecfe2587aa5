"""Cross-workspace fan-out: one week's posts for many installed workspaces against a rate-limited local Slack.

    python bench/bench_workspaces.py [--workspaces 100] [--channels 100] [--workspace-rate 2] [--workers 4]

Each workspace is installed (its own bot token in the Redis installation store, as "Add to Slack"
leaves it) and has ``--channels`` subscribed channels. The local Slack limits chat.postMessage per
workspace (``--workspace-rate`` messages/s, keyed by the calling token's team) and per channel
(1/s, burst 3), answering 429 + Retry-After: 1 beyond that. The clock's path is used unchanged:
``WeeklyPoster.deliver_all`` with per-workspace tokens (``bot.slack.oauth.WorkspaceClients``).

Printed, as ratios against figures from the same run:
- the per-workspace floor: channels / workspace rate (no workspace can post faster than that);
- a baseline measured first: ONE workspace's channels alone;
- the time for all workspaces: the goal is within 1.2x of the floor (workspaces do not queue
  behind each other), with 0 lost (a channel without its post) and 0 duplicated.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test fake Slack (not shipped in the package)

from slack_sdk.oauth.installation_store import Installation  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.content.corpus import load_corpus  # noqa: E402
from bot.slack.app import make_client  # noqa: E402
from bot.slack.delivery import SlackDeliveries  # noqa: E402
from bot.slack.installations import RedisInstallationStore  # noqa: E402
from bot.slack.oauth import WorkspaceClients  # noqa: E402
from bot.storage.embedded_redis import EmbeddedRedis  # noqa: E402
from bot.storage.store import make_client as redis_client  # noqa: E402
from bot.weekly.poster import WeeklyPoster  # noqa: E402
from bot.weekly.schedules import Schedule  # noqa: E402
from fakeslack import FakeSlack, Grant, RateLimits  # noqa: E402


def install(store: RedisInstallationStore, team: str) -> None:
    store.save(Installation(app_id="A0SCR", team_id=team, team_name=team, user_id="U0ADMIN", bot_token=f"xoxb-{team}",
                            bot_id="B0BOT", bot_user_id="U0BOT", bot_scopes="commands,chat:write"))  # fmt: skip


def serve_slack(conn: Connection, teams: list[str], rate: float, clock: float) -> None:
    """The local Slack, in its own process (its own interpreter lock), answering report requests on ``conn``."""
    slack = FakeSlack().serve()
    slack.limits = RateLimits(per_channel=1.0, burst=3, workspace_per_second=rate, retry_after=1)
    slack.clock = lambda: clock
    for team in teams:
        slack.oauth.grants[f"xoxb-{team}"] = Grant(team, None)
    conn.send(slack.url)
    while True:
        request = conn.recv()
        if request is None:
            break
        channels, owner = request
        with slack.lock:
            per_channel = [sum(1 for m in slack.messages.get(c, []) if m.get("metadata")) for c in channels]
            wrong = sum(1 for c in slack.calls if c.method == "chat.postMessage" and c.status == 200
                        and c.token != f"xoxb-{owner.get(c.params.get('channel'), '?')}")  # fmt: skip
            conn.send((per_channel, wrong, slack.limits.limited))
    slack.close()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--channels", type=int, default=100, help="subscribed channels per workspace")
    parser.add_argument("--workspace-rate", type=float, default=2.0, help="messages per second per workspace")
    parser.add_argument("--workers", type=int, default=8, help="channels at a time within a workspace")
    args = parser.parse_args()

    monday = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/London"))
    teams = [f"T{i:05d}" for i in range(args.workspaces)]
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=serve_slack, args=(theirs, ["T0BASE", *teams], args.workspace_rate, monday.timestamp()), daemon=True)
    child.start()
    url = ours.recv()
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="scr-workspaces-")))
    r = redis_client(server.start(), max_connections=args.workspaces * args.workers + 16)
    try:
        corpus = load_corpus(ROOT / "content")
        store = RedisInstallationStore(r)
        settings = Settings(slack_client_id="1.1", slack_client_secret="s", slack_signing_secret="s", slack_api_url=url)
        clients = WorkspaceClients(settings, lambda token: make_client(token, url), installations=store)
        poster = WeeklyPoster(r, SlackDeliveries(make_client(None, url), corpus, clients), corpus,
                              parallel_workspaces=args.workspaces)  # SCR_FANOUT_WORKSPACES: all at once

        def run(group: list[str]) -> tuple[float, list[Schedule], dict[str, int]]:
            for team in group:
                install(store, team)
            schedules = [Schedule(id=f"{t.lower()}-{c:03d}", team=t, channel=f"C{t}{c:03d}")
                         for t in group for c in range(args.channels)]  # fmt: skip
            t0 = time.perf_counter()
            results = poster.deliver_all(schedules, monday, workers=args.workers)
            elapsed = time.perf_counter() - t0
            outcomes: dict[str, int] = {}
            for x in results:
                outcomes[x.outcome] = outcomes.get(x.outcome, 0) + 1
            return elapsed, schedules, outcomes

        floor = args.channels / args.workspace_rate
        base_time, base_schedules, base_outcomes = run(["T0BASE"])
        all_time, schedules, outcomes = run(teams)
        every = base_schedules + schedules
        ours.send(([s.channel for s in every], {s.channel: s.team for s in every}))
        per_channel, wrong_tokens, limited = ours.recv()
        lost = sum(1 for n in per_channel if n == 0)
        dupes = sum(1 for n in per_channel if n > 1)

        print(f"cross-workspace fan-out: {args.workspaces} workspaces x {args.channels} channels "
              f"= {len(schedules)} posts, {args.workers} channels at a time per workspace")  # fmt: skip
        print(f"  local Slack (own process): {args.workspace_rate:g} msg/s per workspace, 1 msg/s per channel "
              "(burst 3), 429 + Retry-After: 1 beyond that")  # fmt: skip
        print(f"  per-workspace floor          {floor:8.2f} s  (channels / workspace rate)")
        print(f"  baseline: one workspace      {base_time:8.2f} s  = {base_time / floor:5.2f}x the floor "
              f"({base_outcomes})")  # fmt: skip
        print(f"  all {args.workspaces} workspaces            {all_time:8.2f} s  = {all_time / floor:5.2f}x the floor, "
              f"{all_time / base_time:5.2f}x one workspace alone")  # fmt: skip
        print(f"  throughput                   {len(schedules) / all_time:8.1f} posts/s")
        print(f"  429s answered                {limited}")
        print(f"  outcomes                     {outcomes}")
        print(f"  posts with another workspace's token: {wrong_tokens}")
        print(f"  lost                         {lost}")
        print(f"  duplicated                   {dupes}")
        if lost or dupes or wrong_tokens:
            raise SystemExit(1)
    finally:
        ours.send(None)
        child.join(10)
        r.close()
        server.stop()


if __name__ == "__main__":
    main()
