"""`scr-bot run` with the scheduler on (HTTP mode): the clock is a sibling of the web server, never a
process that forks, and the weekly point is posted exactly once, also across a clock crash."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis
from test_weekly_processes import sweeps_done

from bot.weekly.schedules import Schedule, Subscriptions
from conftest import RedisServer, bot_env, cron_due_a_minute_ago, free_port, http, start_bot, wait_for
from fakeslack import SINGLE_TEAM, FakeSlack

pytestmark = pytest.mark.slow


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid`` and their command lines (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == pid and stat[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def weekly_posts(slack: FakeSlack, channel: str) -> list[dict]:
    return [m for m in slack.channel_messages(channel) if (m.get("metadata") or {}).get("event_type") == "scr_weekly_post"]


def test_run_with_the_scheduler_posts_once_from_a_sibling_clock(tmp_path: Path, slack: FakeSlack,
                                                               redis_server: RedisServer, redis_client: redis.Redis) -> None:  # fmt: skip
    cron = cron_due_a_minute_ago()
    Subscriptions(redis_client).save(Schedule(id="slack-run", team=SINGLE_TEAM, channel="C0RUN", post=cron, summary=cron,
                                              sectors=("police",), source="slack", created_by="U0LEAD"))  # fmt: skip
    (tmp_path / "no-schedules").mkdir()
    env = bot_env(slack, redis_server.url, tmp_path, SCR_SCHEDULES_DIR=str(tmp_path / "no-schedules"),
                  WEB_CONCURRENCY="2")  # fmt: skip
    bot = start_bot(["run"], env, tmp_path / "bot.log", free_port())
    try:
        wait_for(lambda: len(weekly_posts(slack, "C0RUN")) >= 1, timeout=30)
        kids = wait_for(lambda: (k := children(bot.process.pid)) and len(k) == 2 and k)
        (clock_pid,) = [pid for pid, cmd in kids.items() if cmd.endswith("-m bot clock ")]
        (web_pid,) = [pid for pid, cmd in kids.items() if "--no-scheduler" in cmd]
        assert f"scheduler started with 1 schedule(s) in process {clock_pid}" in bot.log()
        assert children(clock_pid) == {}, "the clock process never forks"
        assert clock_pid not in children(web_pid)  # not a gunicorn worker, not the gunicorn master
        assert http("GET", bot.url + "/healthz").status == 200

        # The clock crashes: the supervisor starts another, whose catch-up sweep finds the week done.
        http_before = len(slack.calls_to("chat.postMessage"))
        os.kill(clock_pid, signal.SIGKILL)
        new_clock = wait_for(lambda: [p for p, c in children(bot.process.pid).items()
                                      if c.endswith("-m bot clock ") and p != clock_pid], timeout=20)[0]
        wait_for(lambda: f"in process {new_clock}" in bot.log(), timeout=20)
        # The new clock's catch-up sweep has run to the end (APScheduler reports each finished job): every
        # chance to post a duplicate.
        wait_for(lambda: sweeps_done(bot.log().split(f"in process {new_clock}", 1)[1]), timeout=20)
        assert len(weekly_posts(slack, "C0RUN")) == 1
        assert len(slack.calls_to("chat.postMessage")) == http_before
    finally:
        leftovers = children(bot.process.pid)
        bot.process.send_signal(signal.SIGTERM)
        code = bot.process.wait(30)
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in leftovers) and time.monotonic() < deadline:
            time.sleep(0.05)
        left_running = [pid for pid in leftovers if alive(pid)]
        for pid in left_running:  # leave nothing running, then report it
            os.kill(pid, signal.SIGKILL)
    assert code == 0
    assert left_running == [], "run stops both of its children"
    assert "Traceback" not in bot.log()


def test_killing_run_outright_stops_its_web_server_and_clock(tmp_path: Path, slack: FakeSlack,
                                                              redis_server: RedisServer) -> None:  # fmt: skip
    """SIGKILL gives `run` no chance to clean up: its children must not be left serving and posting."""
    (tmp_path / "no-schedules").mkdir()
    env = bot_env(slack, redis_server.url, tmp_path, SCR_SCHEDULES_DIR=str(tmp_path / "no-schedules"))
    bot = start_bot(["run"], env, tmp_path / "bot.log", free_port())
    kids: dict[int, str] = {}
    try:
        kids = wait_for(lambda: (k := children(bot.process.pid)) and len(k) == 2 and k)
        bot.process.send_signal(signal.SIGKILL)
        bot.process.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in kids), timeout=20)
    finally:  # whatever failed above, leave nothing running
        for pid in [*kids, *children(bot.process.pid)]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if bot.process.poll() is None:
            bot.process.kill()
            bot.process.wait()
