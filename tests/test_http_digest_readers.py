"""Digest readers belong to a workspace, end to end.

The real bot over signed HTTP, the clock's work done by real ``scr-bot schedule run-due --now`` processes, a
real Redis and the test Slack (whose ``users.info`` says who is a workspace admin). A member who is not a
lead or an admin is refused every change and told who can, and nothing changes; an admin names a reader,
which the audit trail records; the reader gets the digest of every channel of the workspace, not only of
the channel the command was typed in; another workspace's admin neither sees nor changes the list, and the
environment's reader counts only in a single-workspace install; the start-up migration merges the lists an
older version kept per channel into their workspace's, and a second run changes nothing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart
from test_http_distribution import install

from bot.learning.digest_sender import DigestReaders
from bot.storage import keys
from bot.storage.roles import AuditTrail
from bot.storage.store import Workspace
from conftest import ROOT, BotProcess, RedisServer, bot_env, command_answer, free_port, start_bot, stop_bot
from fakeslack import FakeSlack

TEAM = "T0AAA"
WS = Workspace(TEAM)
LEAD, LEAD_TWO, MEMBER, READER, WS_ADMIN, ENV_READER = "U0LEAD", "U0LEADTWO", "U0MEMBER", "U0READER", "U0WSADMIN", "U0ENVREADER"
ONE, TWO = "C0ONE", "C0TWO"
# Tuesday 1 December 2026, 10:00 in London: the month's first working day, in working hours.
DIGEST_DAY = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Europe/London"))
REFUSED = "Only {who}the bot's admins (`/scr admins`) can change who gets this workspace's digest."


@pytest.fixture(scope="module")
def readers_slack() -> Iterator[FakeSlack]:
    server = FakeSlack().serve()
    server.users[WS_ADMIN] = {"id": WS_ADMIN, "name": "admin", "team_id": TEAM, "is_admin": True}
    yield server
    server.close()


@pytest.fixture(scope="module")
def readers_bot(readers_slack: FakeSlack, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """A single-workspace install whose operator names one reader (``SCR_DIGEST_USERS``)."""
    tmp = tmp_path_factory.mktemp("readers")
    env = bot_env(readers_slack, redis_server.url, tmp, SCR_DIGEST_USERS=ENV_READER)
    proc = start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port())
    yield proc
    stop_bot(proc)


@pytest.fixture
def r(shared_redis: redis.Redis) -> redis.Redis:
    return shared_redis


def say(bot: BotProcess, slack: FakeSlack, text: str, user: str, channel: str, **kw: Any) -> str:
    return command_answer(bot, slack, text, user=user, channel=channel, **kw)["text"]


def run_due(env: dict[str, str], at: datetime) -> str:
    out = warmstart.run([sys.executable, "-m", "bot", "schedule", "run-due", "--now", at.isoformat()], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def digests_to(slack: FakeSlack, user: str, since: int) -> list[str]:
    """The channels whose digest ``user`` got by DM among the files sent since ``since``."""
    return sorted(re.search(r"Learning digest for <#(\w+)>", f["comment"]).group(1)
                  for f in slack.files[since:] if f.get("channel") == f"D{user}")  # fmt: skip


def test_a_member_is_refused_an_admin_names_a_reader_who_gets_every_channels_digest(
        readers_bot: BotProcess, readers_slack: FakeSlack, r: redis.Redis, redis_server: RedisServer, tmp_path: Path) -> None:  # fmt: skip
    assert "set up" in say(readers_bot, readers_slack, "subscribe monday 09:30", LEAD, ONE)
    assert "set up" in say(readers_bot, readers_slack, "subscribe tuesday 09:30", LEAD_TWO, TWO)

    # Not a lead here, not an admin: refused, told who can, nothing changes and nothing is recorded.
    # Nor is a channel's lead: readers are the workspace's, and anyone can become the lead of an empty channel.
    refused = REFUSED.format(who="workspace admins or ")
    for user in (MEMBER, LEAD):
        for text in (f"digest add <@{user}>", f"digest remove <@{ENV_READER}>"):
            assert say(readers_bot, readers_slack, text, user, ONE) == refused, text
    assert say(readers_bot, readers_slack, f"digest add <@{MEMBER}>", MEMBER, "D0MEMBER") == refused
    for user in (MEMBER, LEAD):
        assert say(readers_bot, readers_slack, "digest list", user, ONE).startswith("The digest is for this workspace's")
    assert DigestReaders(r).named(WS) == [] and AuditTrail(r).since(WS, 0) == [
        e for e in AuditTrail(r).since(WS, 0) if e.action == "subscribe"]

    # A workspace admin names a reader, typing it in one channel; the audit trail has it.
    assert "will get this workspace's learning digest" in say(readers_bot, readers_slack, f"digest add <@{READER}>", WS_ADMIN, ONE)
    changes = [(e.by, e.role, e.action, e.channel, e.detail) for e in AuditTrail(r).since(WS, 0) if e.action != "subscribe"]
    assert changes == [(WS_ADMIN, "workspace admin", "digest-add", ONE, f"<@{READER}>")]
    listed = say(readers_bot, readers_slack, "digest list", READER, TWO)  # a reader sees the list from any channel
    assert f"<@{READER}>" in listed and f"<@{ENV_READER}> (SCR_DIGEST_USERS)" in listed

    # The month's first working day: the reader, and the operator's reader (single workspace), get the digest of
    # both channels, though the reader was named in one of them.
    env = bot_env(readers_slack, redis_server.url, tmp_path, SCR_DIGEST_USERS=ENV_READER)
    before = len(readers_slack.files)
    out = run_due(env, DIGEST_DAY)
    for user in (READER, ENV_READER):
        for channel in (ONE, TWO):
            assert f"digest {channel} {user}: sent" in out, out
        assert digests_to(readers_slack, user, before) == [ONE, TWO]
    assert digests_to(readers_slack, MEMBER, before) == []

    # Removing the reader ends it for every channel, and is recorded.
    assert "no longer get this workspace's digest" in say(readers_bot, readers_slack, f"digest remove <@{READER}>", WS_ADMIN, TWO)
    assert DigestReaders(r).named(WS) == []
    assert AuditTrail(r).recent(WS, 1)[0].action == "digest-remove"


# ----- a many-workspace install: each workspace's list is its own ---------------------------------------------
OTHER_TEAM, OTHER_ADMIN = "T0BBB", "U0OTHERADMIN"


@pytest.fixture
def two_workspaces(slack: FakeSlack, redis_server: RedisServer, tmp_path: Path, shared_redis: redis.Redis) -> Iterator[BotProcess]:
    slack.users[WS_ADMIN] = {"id": WS_ADMIN, "name": "admin", "team_id": TEAM, "is_admin": True}
    slack.users[OTHER_ADMIN] = {"id": OTHER_ADMIN, "name": "other", "team_id": OTHER_TEAM, "is_admin": True}
    env = bot_env(slack, redis_server.url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                  SLACK_CLIENT_SECRET=slack.oauth.client_secret, SCR_DIGEST_USERS=ENV_READER)  # fmt: skip
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    install(proc, slack, "code-readers-one", TEAM)
    install(proc, slack, "code-readers-two", OTHER_TEAM)
    yield proc
    stop_bot(proc)


def test_another_workspaces_admin_neither_sees_nor_changes_the_list(two_workspaces: BotProcess, slack: FakeSlack,
                                                                     r: redis.Redis) -> None:  # fmt: skip
    assert "will get" in say(two_workspaces, slack, f"digest add <@{READER}>", WS_ADMIN, ONE, team=TEAM)
    listed = say(two_workspaces, slack, "digest list", WS_ADMIN, ONE, team=TEAM)
    assert f"<@{READER}>" in listed and ENV_READER not in listed  # the environment names no one here

    other = Workspace(OTHER_TEAM)
    theirs = say(two_workspaces, slack, "digest list", OTHER_ADMIN, "C0THEIRS", team=OTHER_TEAM)
    assert "no one yet" in theirs and READER not in theirs
    assert "wasn't getting" in say(two_workspaces, slack, f"digest remove <@{READER}>", OTHER_ADMIN, "C0THEIRS", team=OTHER_TEAM)
    assert "will get" in say(two_workspaces, slack, f"digest add <@{MEMBER}>", OTHER_ADMIN, "C0THEIRS", team=OTHER_TEAM)
    assert DigestReaders(r).named(WS) == [READER] and DigestReaders(r).named(other) == [MEMBER]
    assert MEMBER not in say(two_workspaces, slack, "digest list", WS_ADMIN, ONE, team=TEAM)
    assert [(e.by, e.action) for e in AuditTrail(r).since(WS, 0)] == [(WS_ADMIN, "digest-add")]
    assert [(e.by, e.action) for e in AuditTrail(r).since(other, 0)] == [(OTHER_ADMIN, "digest-add")]


# ----- the start-up migration from per-channel lists ---------------------------------------------------------
def everything(r: redis.Redis) -> dict[str, Any]:
    """Every key of the bot with its type and value (sets sorted), to compare before and after."""
    out: dict[str, Any] = {}
    for key in sorted(r.scan_iter("scr:*")):
        kind = r.type(key)
        read = {"string": r.get, "hash": r.hgetall, "set": lambda k: sorted(r.smembers(k)), "list": lambda k: r.lrange(k, 0, -1),
                "zset": lambda k: r.zrange(k, 0, -1, withscores=True)}[kind]  # fmt: skip
        out[key] = (kind, read(key))
    return out


def test_the_first_start_merges_per_channel_lists_and_a_second_run_changes_nothing(
        readers_slack: FakeSlack, redis_server: RedisServer, r: redis.Redis, tmp_path: Path) -> None:  # fmt: skip
    # As the previous version left it: layout 3, readers per channel (one list in layout 1, never moved yet).
    r.set(keys.LAYOUT, "3")
    r.sadd(f"{WS.tag}:digest:readers:{ONE}", "U0OLDA", "U0BOTH")
    r.sadd(f"{WS.tag}:digest:readers:{TWO}", "U0OLDB", "U0BOTH")
    r.sadd(f"{Workspace('T0ZZZ').tag}:digest:readers:C0Z", "U0ZED")
    r.sadd("scr:-:T0LEG:digest:readers:C0L", "U0LEGACY")
    env = bot_env(readers_slack, redis_server.url, tmp_path)
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        assert DigestReaders(r).named(WS) == ["U0BOTH", "U0OLDA", "U0OLDB"]
        assert DigestReaders(r).named(Workspace("T0ZZZ")) == ["U0ZED"]  # each workspace's into its own
        assert DigestReaders(r).named(Workspace("T0LEG")) == ["U0LEGACY"]
        assert list(r.scan_iter("scr:*digest:readers:*")) == [] and r.get(keys.LAYOUT) == str(keys.LAYOUT_VERSION)
        assert "<@U0OLDA>" in say(bot, readers_slack, "digest list", "U0OLDB", ONE)
        # A reader named in the other channel gets this channel's digest too.
        assert "set up" in say(bot, readers_slack, "subscribe monday 09:30", LEAD, ONE)
        out = run_due(env, DIGEST_DAY)
        for user in ("U0OLDA", "U0OLDB", "U0BOTH"):
            assert f"digest {ONE} {user}: sent" in out, out
    finally:
        stop_bot(bot)
    after = everything(r)

    # A second start (the marker says it is done), and a full second run (marker dropped): nothing changes.
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot2.log", free_port())
    stop_bot(bot)
    assert everything(r) == after
    r.delete(keys.LAYOUT)
    again = keys.migrate(r)
    assert (again.moved, again.kept, again.readers) == (0, 0, 0), again
    r.set(keys.LAYOUT, str(keys.LAYOUT_VERSION))
    assert everything(r) == after
