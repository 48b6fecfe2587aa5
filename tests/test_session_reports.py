"""A channel that runs 7-minute briefings but has no weekly posts still has its evidence reported (issue 24
F4): `scr-bot reflections report` without `--channel` includes it (Markdown and CSV), and the monthly digest
(`scr-bot schedule run-due` as the clock) goes to the workspace's readers for it. Real processes, a real
Redis, Slack's side on the local fake."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from bot.briefings.sessions import DONE, Action, Session, SessionStore
from bot.learning.digest_sender import DigestReaders
from bot.storage.keys import Workspace
from conftest import ROOT, RedisServer, bot_env
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
TEAM, CHANNEL, LEAD = "T0AAA", "C0ONLYBRIEF", "U0LEAD"
LONDON = ZoneInfo("Europe/London")


def run_session(client: redis.Redis, at: float, tag: str) -> None:
    """A briefing run in CHANNEL at ``at``: four there, three actions, all done (three owners)."""
    store, ws = SessionStore(client, 365), Workspace(TEAM)
    ts = f"{int(at)}.000{tag}"
    store.ensure(ws, Session(CHANNEL, ts, "neglect", "7-minute briefing: Neglect", LEAD, at))
    store.attend(ws, f"{CHANNEL}:{ts}", ["U0A", "U0B", "U0C", "U0D"])
    for i, owner in enumerate(("U0A", "U0B", "U0C")):
        a = Action(f"V0{tag}{i}", CHANNEL, ts, "neglect", "Review the toolkit", owner, "2027-12-01", LEAD, at)
        store.add_action(ws, a)
        a.status = DONE
        store.save(ws, a)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return warmstart.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)  # fmt: skip


def test_the_report_and_the_digest_include_a_channel_that_only_runs_briefings(
        slack: FakeSlack, redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path) -> None:  # fmt: skip
    env = bot_env(slack, redis_server.url, tmp_path)
    run_session(redis_client, time.time() - 60, "1")
    since = datetime.now(LONDON).replace(day=1).date().isoformat()

    md = cli(env, "reflections", "report", "--team", TEAM, "--since", since)
    assert md.returncode == 0, md.stderr
    assert f"## Channel {CHANNEL}" in md.stdout and "**7-minute briefings run:**" in md.stdout, md.stdout + md.stderr
    assert "attended by 4 · actions agreed 3 (done 3" in md.stdout
    assert "no weekly posts" not in md.stderr

    csv_text = cli(env, "reflections", "report", "--team", TEAM, "--since", since, "--format", "csv").stdout
    header, *rows = csv_text.splitlines()
    assert header.endswith(",row,month,sessions_run,actions_agreed,done,partly,not_yet,overdue")
    month = datetime.now(LONDON).strftime("%Y-%m")
    assert any(r.startswith(f"{TEAM},{CHANNEL},") and r.endswith(f",4,7-minute briefings,{month},1,3,3,0,0,0")
               for r in rows), csv_text  # fmt: skip

    # The digest on the first working day of February, for January's briefing: a reader gets it by DM.
    run_session(redis_client, datetime(2027, 1, 12, 10, tzinfo=LONDON).timestamp(), "2")
    DigestReaders(redis_client).add(Workspace(TEAM), "U0LL")
    before = len(slack.files)
    out = cli(env, "schedule", "run-due", "--now", datetime(2027, 2, 1, 10, tzinfo=LONDON).isoformat())
    assert f"digest {CHANNEL} U0LL: sent" in out.stdout, out.stdout + out.stderr
    sent = [f for f in slack.files[before:] if f.get("channel") == "DU0LL"]
    assert sent and "7-minute briefings" in str(sent[0].get("comment")), sent
