"""Settings per workspace, time per person, end to end.

Signed `/scr` requests into the running bot, the clock's work done by real `scr-bot schedule run-due --now`
processes, a real Redis and the test Slack (whose ``users.info`` says who is an admin and each person's
``tz``): an admin sets the workspace's zone and bank holidays; a member is refused and told who can; a
digest in Auckland covers November in early December; a person in New York gets their check in New York's
working day, not London's; a bank holiday sends no check; a paused person gets nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from bot.storage.roles import AuditTrail
from bot.storage.store import Workspace
from conftest import ROOT, BotProcess, RedisServer, bot_env, command_answer
from fakeslack import FakeSlack

TEAM = "T0AAA"
WS = Workspace(TEAM)
ADMIN, MEMBER, LONDONER, NEW_YORKER, LEAD = "U0WSADMIN", "U0MEMBER", "U0LONDON", "U0NEWYORK", "U0LEAD"
CHANNEL = "C0SET"
LONDON, NEW_YORK, AUCKLAND = ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Pacific/Auckland")


@pytest.fixture(scope="module")
def module_slack() -> Iterator[FakeSlack]:
    """The test Slack, knowing one workspace admin and two people in different time zones."""
    server = FakeSlack().serve()
    server.users[ADMIN] = {"id": ADMIN, "name": "admin", "team_id": TEAM, "is_admin": True, "tz": "Europe/London"}
    server.users[LONDONER] = {"id": LONDONER, "name": "london", "team_id": TEAM, "tz": "Europe/London"}
    server.users[NEW_YORKER] = {"id": NEW_YORKER, "name": "newyork", "team_id": TEAM, "tz": "America/New_York"}
    yield server
    server.close()


@pytest.fixture
def r(shared_redis: redis.Redis) -> redis.Redis:
    return shared_redis


@pytest.fixture
def cli(module_slack: FakeSlack, redis_server: RedisServer, tmp_path: Path):  # noqa: ANN201
    env = bot_env(module_slack, redis_server.url, tmp_path)

    def run(*args: str) -> str:
        result = warmstart.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env,
                                cwd=ROOT, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    return run


def say(bot: BotProcess, slack: FakeSlack, text: str, user: str, channel: str = CHANNEL) -> str:
    return command_answer(bot, slack, text, user=user, channel=channel)["text"]


def run_due(cli, at: datetime) -> str:  # noqa: ANN001
    return cli("schedule", "run-due", "--now", at.isoformat())


def test_a_member_is_refused_and_told_who_can_an_admin_changes_and_it_is_audited(bot: BotProcess, module_slack: FakeSlack,
                                                                                 r: redis.Redis) -> None:  # fmt: skip
    who = "Only workspace admins or the bot's admins (`/scr admins`) can see or change this workspace's settings."
    assert say(bot, module_slack, "settings", MEMBER) == who
    assert say(bot, module_slack, "settings timezone Pacific/Auckland", MEMBER) == who
    assert r.hgetall(f"{WS.tag}:settings") == {}

    shown = say(bot, module_slack, "settings", ADMIN)
    assert "Europe/London _(default)_" in shown and "england-and-wales _(default)_" in shown
    assert "is now Pacific/Auckland" in say(bot, module_slack, "settings timezone Pacific/Auckland", ADMIN)
    assert "Nothing changed" in say(bot, module_slack, "settings timezone Mars/Olympus", ADMIN)
    assert "Nothing changed" in say(bot, module_slack, "settings quiz-days sat", ADMIN)  # outside working days
    said = say(bot, module_slack, "settings contact Our DSL <b>Sam</b> & co, 01234 567890", ADMIN)
    assert "&lt;b&gt;Sam&lt;/b&gt; &amp; co" in said and "<b>" not in said  # echoed escaped
    # The contact line is the workspace's own under the safety net's steps.
    answer = command_answer(bot, module_slack, "a pupil told me her stepdad hurts her what do I do", user=MEMBER, channel=CHANNEL)
    assert "01234 567890" in str(answer)
    actions = [(e.by, e.role, e.action, e.detail) for e in AuditTrail(r).since(WS, 0)]
    assert (ADMIN, "workspace admin", "settings", "timezone Pacific/Auckland") in actions
    assert all(a[0] == ADMIN for a in actions)  # refusals and mistakes changed nothing and are not recorded


def test_an_auckland_workspace_gets_novembers_digest_in_early_december(bot: BotProcess, module_slack: FakeSlack,
                                                                       r: redis.Redis, cli) -> None:  # noqa: ANN001
    assert "is now Pacific/Auckland" in say(bot, module_slack, "settings timezone Pacific/Auckland", ADMIN)
    assert say(bot, module_slack, "subscribe", LEAD).startswith(f"<@{LEAD}> set up")
    assert "will get this workspace's learning digest" in say(bot, module_slack, f"digest add <@{LEAD}>", ADMIN)
    before = len(module_slack.files)
    # Tuesday 1 December 2026, 10:00 in Auckland: still Monday 30 November in UTC and in London.
    out = run_due(cli, datetime(2026, 12, 1, 10, 0, tzinfo=AUCKLAND))
    assert f"digest {CHANNEL} {LEAD}: sent" in out, out
    (dm,) = [f for f in module_slack.files[before:] if f.get("channel") == f"D{LEAD}"]
    assert "2026-06 to 2026-11" in dm["comment"] and "2026-10*" not in dm["comment"], dm["comment"]
    assert f"{WS.tag}:digest:sent:{CHANNEL}:2026-12:{LEAD}" in {k for k in r.scan_iter(f"{WS.tag}:digest:*")}


def _checks(slack: FakeSlack, user: str) -> int:
    return sum("Your knowledge check" in str(m.get("blocks")) for m in slack.channel_messages("D" + user))


def test_each_person_gets_their_check_in_their_own_working_day(bot: BotProcess, module_slack: FakeSlack,
                                                               r: redis.Redis, cli) -> None:  # noqa: ANN001
    for person in (LONDONER, NEW_YORKER):
        assert "You're in" in say(bot, module_slack, "quiz on", person)
    # Tuesday 10 November 2026, 11:00 in London: 06:00 in New York, before its working day.
    out = run_due(cli, datetime(2026, 11, 10, 11, 0, tzinfo=LONDON))
    assert f"quiz {LONDONER}: sent" in out and NEW_YORKER not in out, out
    assert _checks(module_slack, NEW_YORKER) == 0
    assert r.get(f"{WS.tag}:tz:{NEW_YORKER}") == "America/New_York"  # cached by the clock, with a lifetime
    assert 0 < r.ttl(f"{WS.tag}:tz:{NEW_YORKER}") <= 86400
    # 16:00 in New York (21:00 in London, after the team's day): New York's check arrives.
    out = run_due(cli, datetime(2026, 11, 10, 16, 0, tzinfo=NEW_YORK))
    assert f"quiz {NEW_YORKER}: sent" in out, out
    assert _checks(module_slack, NEW_YORKER) == 1


def test_a_bank_holiday_sends_no_check_unless_the_workspace_keeps_another_nations(bot: BotProcess, module_slack: FakeSlack,
                                                                                  r: redis.Redis, cli) -> None:  # noqa: ANN001, E501
    assert "is now" in say(bot, module_slack, "settings quiz-days mon-fri", ADMIN)
    assert "You're in" in say(bot, module_slack, "quiz on", LONDONER)
    summer = datetime(2026, 8, 31, 11, 0, tzinfo=LONDON)  # the summer bank holiday in England and Wales only
    assert LONDONER not in run_due(cli, summer)
    assert "is now scotland" in say(bot, module_slack, "settings bank-holidays scotland", ADMIN)
    assert f"quiz {LONDONER}: sent" in run_due(cli, summer)


def test_a_paused_person_gets_nothing_until_the_pause_ends(bot: BotProcess, module_slack: FakeSlack,
                                                           r: redis.Redis, cli) -> None:  # noqa: ANN001
    assert "You're in" in say(bot, module_slack, "quiz on", LONDONER)
    assert "Paused: no knowledge checks until" in say(bot, module_slack, "quiz pause 4", LONDONER)
    assert "paused until" in say(bot, module_slack, "quiz", LONDONER)
    before = _checks(module_slack, LONDONER)
    soon = datetime.now(LONDON).replace(hour=11, minute=0)
    for days in range(1, 8):  # every day of the coming week, within working hours
        assert LONDONER not in run_due(cli, soon + timedelta(days=days))
    assert _checks(module_slack, LONDONER) == before
    assert "Welcome back" in say(bot, module_slack, "quiz resume", LONDONER)
