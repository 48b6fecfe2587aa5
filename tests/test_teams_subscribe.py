"""A Teams channel's weekly post managed from Teams: "@SCR Learning subscribe [day time]", "unsubscribe",
"schedule", into the same schedule store as Slack's ``/scr subscribe`` and with its role model: whoever subscribed
is the channel's lead; the lead and the bot's admins (in Teams: whoever first added the app in the tenant) may
change or stop it; anyone else is refused and told who can; every allowed change is in the audit trail. The bot
is a process, Redis is real, Teams is faked at its HTTP boundary and every activity is signed as the Bot Connector
signs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bot.storage import keys
from bot.storage.roles import AdminList, AuditTrail
from bot.teams.references import References
from bot.weekly.schedules import Subscriptions
from conftest import BotProcess, bot_env, free_port, start_bot, stop_bot
from fake_teams import FakeTeams
from fakeslack import FakeSlack
from teams_helpers import installed, mentioned, next_day, run_due, said

APP_ID = "00000000-0000-0000-0000-0000000050b5"
TENANT = "72f988bf-0000-0000-0000-0000000050b5"
GROUP = "aad-group-subscribe"
WS = keys.Workspace(TENANT, platform="teams")
INSTALLER, LEAD, OTHER = "29:installer", "29:lead", "29:someone-else"


@pytest.fixture(scope="module")
def env(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return bot_env(module_slack, redis_server.url, tmp_path_factory.mktemp("teamssub"), **teams.env())


@pytest.fixture(scope="module")
def teams_bot(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path_factory.mktemp("teamssubbot") / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def test_subscribe_by_mention_sets_up_the_channel_and_the_lead_and_admins_alone_may_change_it(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    channel = "19:subscribe-roles@thread.tacv2"
    installed(teams_bot, teams, shared_redis, WS, channel, GROUP, user=INSTALLER)
    assert AdminList(shared_redis).members(WS) == [INSTALLER]  # the first to add the app is the bot's admin
    installed(teams_bot, teams, shared_redis, WS, "19:subscribe-second@thread.tacv2", "aad-2", user=OTHER)
    assert AdminList(shared_redis).members(WS) == [INSTALLER]  # ... and only the first

    def subscription() -> Any:
        return Subscriptions(shared_redis).get(WS, channel)

    assert "No weekly learning point" in mentioned(teams_bot, teams, channel, "schedule", OTHER, "Sam Other")
    reply = mentioned(teams_bot, teams, channel, "subscribe tuesday 10:15", LEAD, "Lee Lead")
    assert "set up a weekly learning point" in reply and "Tuesday 10:15" in reply
    first = subscription()
    assert first.platform == "teams" and first.source == "teams" and first.team == TENANT
    assert first.created_by == LEAD and first.post == "15 10 * * tue" and first.channel == channel
    assert "Lee Lead" in mentioned(teams_bot, teams, channel, "schedule", OTHER, "Sam Other")
    # A channel message names no Microsoft 365 group: the one the install gave is kept (Graph needs it to find a
    # post whose answer was lost).
    assert References(shared_redis).get(WS, channel).aad_group == GROUP  # type: ignore[union-attr]

    # Someone else may neither change it nor stop it: refused, told who can, nothing changed or recorded.
    before = len(AuditTrail(shared_redis).recent(WS, 50))
    for asked in ("subscribe friday 08:00", "unsubscribe"):
        refused = mentioned(teams_bot, teams, channel, asked, OTHER, "Sam Other")
        assert refused.startswith("Only Lee Lead") and "bot's admin" in refused and "first added the app" in refused
    assert subscription() == first and len(AuditTrail(shared_redis).recent(WS, 50)) == before

    # The lead changes it; the bot's admin changes it too, and the lead stays the lead.
    assert "updated" in mentioned(teams_bot, teams, channel, "subscribe wednesday 09:00", LEAD, "Lee Lead")
    assert "updated" in mentioned(teams_bot, teams, channel, "subscribe thursday 11:00", INSTALLER, "Ira Installer")
    assert subscription().post == "0 11 * * thu" and subscription().created_by == LEAD
    # The clock posts it in the channel, through the same store Slack's subscriptions are in.
    out = run_due(env, next_day(3, 11, 1))
    assert f"{first.id} " in out and ": posted" in out, out
    assert len(teams.weekly_posts(channel)) == 1

    # The admin stops it.
    assert "stopped" in mentioned(teams_bot, teams, channel, "unsubscribe", INSTALLER, "Ira Installer")
    assert subscription() is None
    trail = [(e.by, e.role, e.action) for e in reversed(AuditTrail(shared_redis).recent(WS, 50))]
    assert trail == [(INSTALLER, "installer", "admins-add"), (LEAD, "lead", "subscribe"), (LEAD, "lead", "resubscribe"),
                     (INSTALLER, "bot admin", "resubscribe"), (INSTALLER, "bot admin", "unsubscribe")]  # fmt: skip


def test_subscribe_words_that_do_not_hold_are_answered_and_nothing_is_saved(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    channel = "19:subscribe-words@thread.tacv2"
    installed(teams_bot, teams, shared_redis, WS, channel, GROUP)
    assert "didn't understand 'fortnightly'" in mentioned(teams_bot, teams, channel, "subscribe fortnightly", LEAD, "L")
    assert "Weekly posts go to a team's channel" in said(teams_bot, teams, "subscribe", LEAD, "a:personal-sub")["text"]
    assert Subscriptions(shared_redis).get(WS, channel) is None
