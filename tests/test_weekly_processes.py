"""Exactly once across real processes: two schedulers at once, one killed mid-post, restarts, catch-up.

Each test runs `scr-bot` as separate OS processes against one real Redis and the local Slack.
`schedule run-due --now` is the clock's own delivery step with the time passed in, so the weekly
timing is controlled without sleeping; the last test runs two real `scr-bot clock` processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from bot.storage import keys
from bot.storage.keys import Workspace
from bot.weekly.schedules import Schedule, Subscriptions
from conftest import ROOT, RedisServer, bot_env, cron_due_a_minute_ago
from fakeslack import SINGLE_TEAM, FakeSlack

pytestmark = [pytest.mark.slow, pytest.mark.history_limits]  # history limits: as a distributed app outside the Marketplace
LONDON = ZoneInfo("Europe/London")
MONDAY_0930 = datetime(2026, 11, 23, 9, 30, tzinfo=LONDON)

SCHEDULE = """schedules:
  - id: ward-7
    channel: C0WARD7
    when: {day: monday, time: "09:30"}
    summary: {day: friday, time: "16:00"}
    sectors: [health]
"""


@pytest.fixture
def env(tmp_path: Path, slack: FakeSlack, redis_server: RedisServer, redis_client: redis.Redis) -> dict[str, str]:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "ward.yaml").write_text(SCHEDULE)
    return bot_env(slack, redis_server.url, tmp_path, SCR_SCHEDULES_DIR=str(schedules))


def lapse_the_dead_claim(client: redis.Redis) -> None:
    """Let the killed process's weekly claim lease run out now, as the passing of its lease would (a real lease
    must outlast a Slack call's retry budget, minutes, too long to wait for here)."""
    claim = keys.weekly_claim(Workspace(SINGLE_TEAM), "ward-7", "2026-W48")
    assert client.exists(claim), "the dead process's claim is still held"
    client.pexpire(claim, 1)
    time.sleep(0.05)


def spawn(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen[str]:
    """``log``: write the output to that file (read it while the process runs) rather than a pipe."""
    out = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - the child holds it; closed when it ends
    return warmstart.Popen([sys.executable, "-m", "bot", *args], env=env, cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


SWEPT = 'Job "Clock.sweep'  # APScheduler's report that a sweep job ran: "... executed successfully"


def sweeps_done(log: str) -> int:
    """How many sweeps a clock's log reports finished (its start-up sweep is the first)."""
    return sum(SWEPT in line and "executed successfully" in line for line in log.splitlines())


def lease_lapsed(r: redis.Redis, week: str = "2026-W48") -> bool:
    """The dead process's claim on ward-7's week has expired (what a restart needs before it may take over)."""
    return not r.exists(keys.weekly_claim(Workspace(SINGLE_TEAM), "ward-7", week))


def run_due(env: dict[str, str], now: datetime) -> str:
    proc = spawn(env, "schedule", "run-due", "--now", now.isoformat())
    out, _ = proc.communicate(timeout=60)
    return out


def posts(slack: FakeSlack, channel: str = "C0WARD7") -> list[dict]:
    return [m for m in slack.channel_messages(channel) if (m.get("metadata") or {}).get("event_type") == "scr_weekly_post"]


def wait(predicate, timeout: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_two_processes_at_once_post_once(env: dict[str, str], slack: FakeSlack) -> None:
    slack.delay["chat.postMessage"] = 0.5
    procs = [spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat()) for _ in range(2)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert len(posts(slack)) == 1, outs
    assert sum("ward-7 2026-W48: posted" in o for o in outs) == 1, outs
    assert all(("posted" in o) or ("busy" in o) or ("already" in o) for o in outs), outs


def test_killed_after_slack_accepted_the_post_is_recovered_not_reposted(env: dict[str, str], slack: FakeSlack,
                                                                        redis_client: redis.Redis) -> None:  # fmt: skip
    slack.clock = MONDAY_0930.timestamp
    slack.delay["chat.postMessage"] = 1.5  # Slack takes a while to answer...
    victim = spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat())
    wait(lambda: any(m == "chat.postMessage" for m, _ in slack.started))
    victim.send_signal(signal.SIGKILL)  # ...and the process dies waiting for the answer
    victim.wait(10)
    wait(lambda: len(posts(slack)) == 1)  # Slack still posted it
    lapse_the_dead_claim(redis_client)
    slack.delay.clear()
    out = run_due(env, MONDAY_0930 + timedelta(minutes=5))
    assert "ward-7 2026-W48: recovered" in out, out
    assert len(posts(slack)) == 1
    assert "already" in run_due(env, MONDAY_0930 + timedelta(minutes=10))


def test_killed_before_slack_saw_the_post_is_posted_once_on_restart(env: dict[str, str], slack: FakeSlack,
                                                                     redis_client: redis.Redis) -> None:  # fmt: skip
    slack.clock = MONDAY_0930.timestamp
    slack.hold["chat.postMessage"] = 5  # if the caller hangs up in this time, "Slack" never acts
    victim = spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat())
    wait(lambda: any(m == "chat.postMessage" for m, _ in slack.started))
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    wait(lambda: any(c.status == 499 for c in slack.calls_to("chat.postMessage")))
    assert posts(slack) == []
    slack.hold.clear()
    lapse_the_dead_claim(redis_client)
    out = run_due(env, MONDAY_0930 + timedelta(minutes=5))
    assert "ward-7 2026-W48: posted" in out, out
    assert len(posts(slack)) == 1
    assert slack.calls_to("conversations.history"), "the restart checked Slack before posting again"


def test_down_at_post_time_catches_up_once_and_never_posts_a_stale_week(env: dict[str, str], slack: FakeSlack) -> None:
    assert "not_due" in run_due(env, MONDAY_0930 - timedelta(minutes=1))
    wednesday = MONDAY_0930 + timedelta(days=2)
    assert "ward-7 2026-W48: posted" in run_due(env, wednesday)
    assert "ward-7 2026-W48: already" in run_due(env, wednesday + timedelta(hours=1))
    saturday_next_week = MONDAY_0930 + timedelta(days=12)  # after that week's Friday 16:00 summary
    assert "ward-7 2026-W49: stale" in run_due(env, saturday_next_week)
    assert "ward-7 2026-W50: posted" in run_due(env, MONDAY_0930 + timedelta(days=14))
    assert len(posts(slack)) == 2


def test_two_clock_processes_post_once(env: dict[str, str], slack: FakeSlack, redis_client: redis.Redis) -> None:
    """The real `scr-bot clock`, twice: its start-up sweep catches up a post that is due right now."""
    cron = cron_due_a_minute_ago()
    Subscriptions(redis_client).save(Schedule(id="slack-live", team=SINGLE_TEAM, channel="C0LIVE", post=cron, summary=cron,
                                              sectors=("police",), source="slack", created_by="U0LEAD"))  # fmt: skip
    empty = Path(env["SCR_DATA_DIR"]).parent / "none"  # an empty schedules folder: no admin schedules
    empty.mkdir(exist_ok=True)
    env = {**env, "SCR_SCHEDULES_DIR": str(empty)}
    logs_at = [Path(env["SCR_DATA_DIR"]).parent / f"clock{i}.log" for i in range(2)]
    clocks = [spawn(env, "clock", log=path) for path in logs_at]
    try:
        wait(lambda: len(posts(slack, "C0LIVE")) >= 1, timeout=30)
        # Both start-up sweeps have run to the end: the second clock had its chance to post a duplicate.
        wait(lambda: all(sweeps_done(path.read_text()) for path in logs_at), timeout=30)
        assert len(posts(slack, "C0LIVE")) == 1
        status = redis_client.hgetall(f"scr:{{slack:-:{SINGLE_TEAM}}}:schedule-status:slack-live")
        assert status["last_ts"] == posts(slack, "C0LIVE")[0]["ts"]
    finally:
        for c in clocks:
            c.terminate()
        for c in clocks:
            c.wait(20)
        logs = [path.read_text() for path in logs_at]
    assert all("scheduler started with 1 schedule" in log for log in logs), logs
    assert all(c.returncode == 0 for c in clocks), [c.returncode for c in clocks]
    week = json.loads(redis_client.get(f"scr:{{slack:-:{SINGLE_TEAM}}}:channel-week:C0LIVE"))
    assert week["schedule"] == "slack-live"
