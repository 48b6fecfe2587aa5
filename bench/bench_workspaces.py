"""Cross-workspace fan-out: one week's posts for many installed workspaces against a rate-limited local Slack.

    python bench/bench_workspaces.py [--workspaces 100] [--channels 100] [--workspace-rate 2] [--workers 4]

Each workspace is installed (its own bot token in the Redis installation store, as "Add to Slack"
leaves it) and has ``--channels`` subscribed channels. The local Slack limits chat.postMessage per
workspace (``--workspace-rate`` messages/s, keyed by the calling token's team) and per channel
(1/s, burst 3), answering 429 + Retry-After: 1 beyond that. The clock's path is used unchanged:
``WeeklyPoster.deliver_all`` with per-workspace tokens (``bot.oauth.WorkspaceClients``).

Printed, as ratios against figures from the same run:
- the per-workspace floor: channels / workspace rate (no workspace can post faster than that);
- a baseline measured first: ONE workspace's channels alone;
- the time for all workspaces: the goal is within 1.2x of the floor (workspaces do not queue
  behind each other), with 0 lost (a channel without its post) and 0 duplicated.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test fake Slack (not shipped in the package)

from slack_sdk.oauth.installation_store import Installation  # noqa: E402

from bot.app import make_client  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.content import load_corpus  # noqa: E402
from bot.embedded_redis import EmbeddedRedis  # noqa: E402
from bot.installations import RedisInstallationStore  # noqa: E402
from bot.oauth import WorkspaceClients  # noqa: E402
from bot.schedules import Schedule  # noqa: E402
from bot.store import make_client as redis_client  # noqa: E402
from bot.weekly import WeeklyPoster  # noqa: E402
from fakeslack import FakeSlack, Grant, RateLimits  # noqa: E402


def install(store: RedisInstallationStore, slack: FakeSlack, team: str) -> None:
    token = f"xoxb-{team}"
    slack.oauth.grants[token] = Grant(team, None)
    store.save(Installation(app_id="A0SCR", team_id=team, team_name=team, user_id="U0ADMIN", bot_token=token,
                            bot_id="B0BOT", bot_user_id="U0BOT", bot_scopes="commands,chat:write"))  # fmt: skip


def count(slack: FakeSlack, schedules: list[Schedule]) -> tuple[int, int]:
    """(lost, duplicated): channels with no weekly post, and with more than one."""
    with slack.lock:
        per_channel = {s.channel: sum(1 for m in slack.messages.get(s.channel, []) if m.get("metadata"))
                       for s in schedules}  # fmt: skip
    return sum(1 for n in per_channel.values() if n == 0), sum(1 for n in per_channel.values() if n > 1)


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--channels", type=int, default=100, help="subscribed channels per workspace")
    parser.add_argument("--workspace-rate", type=float, default=2.0, help="messages per second per workspace")
    parser.add_argument("--workers", type=int, default=8, help="channels at a time within a workspace")
    args = parser.parse_args()

    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="scr-workspaces-")))
    r = redis_client(server.start(), max_connections=args.workspaces * args.workers + 16)
    slack = FakeSlack().serve()
    slack.limits = RateLimits(per_channel=1.0, burst=3, workspace_per_second=args.workspace_rate, retry_after=1)
    try:
        corpus = load_corpus(ROOT / "content")
        monday = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/London"))
        slack.clock = monday.timestamp
        store = RedisInstallationStore(r)
        settings = Settings(slack_client_id="1.1", slack_client_secret="s", slack_signing_secret="s",
                            slack_api_url=slack.url)  # fmt: skip
        clients = WorkspaceClients(settings, lambda token: make_client(token, slack.url), installations=store)
        poster = WeeklyPoster(r, make_client(None, slack.url), corpus, clients=clients,
                              parallel_workspaces=args.workspaces)  # SCR_FANOUT_WORKSPACES: all at once

        def schedules_for(teams: list[str]) -> list[Schedule]:
            return [Schedule(id=f"{t.lower()}-{c:03d}", team=t, channel=f"C{t}{c:03d}")
                    for t in teams for c in range(args.channels)]  # fmt: skip

        def run(teams: list[str]) -> tuple[float, list[Schedule], dict[str, int]]:
            for team in teams:
                install(store, slack, team)
            schedules = schedules_for(teams)
            t0 = time.perf_counter()
            results = poster.deliver_all(schedules, monday, workers=args.workers)
            elapsed = time.perf_counter() - t0
            outcomes: dict[str, int] = {}
            for x in results:
                outcomes[x.outcome] = outcomes.get(x.outcome, 0) + 1
            return elapsed, schedules, outcomes

        floor = args.channels / args.workspace_rate
        base_time, base_schedules, base_outcomes = run(["T0BASE"])
        limited_before = slack.limits.limited
        teams = [f"T{i:05d}" for i in range(args.workspaces)]
        all_time, schedules, outcomes = run(teams)
        lost, dupes = count(slack, schedules)
        base_lost, base_dupes = count(slack, base_schedules)
        owner = {s.channel: s.team for s in schedules + base_schedules}
        wrong = [c for c in slack.ok_calls("chat.postMessage") if c.token != f"xoxb-{owner[c.params['channel']]}"]
        tokens_ok = not wrong

        print(f"cross-workspace fan-out: {args.workspaces} workspaces x {args.channels} channels "
              f"= {len(schedules)} posts, {args.workers} channels at a time per workspace")  # fmt: skip
        print(f"  local Slack: {args.workspace_rate:g} msg/s per workspace, 1 msg/s per channel (burst 3), "
              "429 + Retry-After: 1 beyond that")  # fmt: skip
        print(f"  per-workspace floor          {floor:8.2f} s  (channels / workspace rate)")
        print(f"  baseline: one workspace      {base_time:8.2f} s  = {base_time / floor:5.2f}x the floor "
              f"({base_outcomes})")  # fmt: skip
        print(f"  all {args.workspaces} workspaces            {all_time:8.2f} s  = {all_time / floor:5.2f}x the floor, "
              f"{all_time / base_time:5.2f}x one workspace alone")  # fmt: skip
        print(f"  throughput                   {len(schedules) / all_time:8.1f} posts/s")
        print(f"  429s answered                {slack.limits.limited - limited_before}")
        print(f"  outcomes                     {outcomes}")
        print(f"  each post with its own workspace's token: {'yes' if tokens_ok else 'NO'}")
        print(f"  lost                         {lost + base_lost}")
        print(f"  duplicated                   {dupes + base_dupes}")
        if lost or dupes or base_lost or base_dupes or not tokens_ok:
            raise SystemExit(1)
    finally:
        slack.close()
        r.close()
        server.stop()


if __name__ == "__main__":
    main()
