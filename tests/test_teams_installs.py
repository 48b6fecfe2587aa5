"""Microsoft Teams: what keeps a tenant. Its installs are its teams and the personal chats the app was installed
in as a personal app; a personal chat the bot only keeps to answer in (someone typed "quiz on" or "export" there)
is not one. Removing the app from a team stops that team's channels' weekly posts; removing its last install
purges the tenant, as a Slack uninstall purges a workspace (README, PRIVACY.md). The bot is a process, Redis is
real, Teams is faked at its HTTP boundary (tests/fake_teams.py) and every activity is signed as the Bot Connector
signs it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
import warmstart

from bot.learning.quiz import QuizStore
from bot.storage import keys
from bot.weekly.schedules import Subscriptions
from conftest import ROOT, BotProcess, bot_env, free_port, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams
from fakeslack import FakeSlack
from teams_helpers import installed, mentioned, next_day, said, signed

APP_ID = "00000000-0000-0000-0000-0000000a11a5"
TENANT = "72f988bf-0000-0000-0000-0000000a11a5"
WS = keys.Workspace(TENANT, platform="teams")
LEAD, LEAD_NAME = "29:installs-lead", "Ann Lead"
TEAM_A, TEAM_B = "19:installs-a@thread.tacv2", "19:installs-b@thread.tacv2"


@pytest.fixture(scope="module")
def env(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return bot_env(module_slack, redis_server.url, tmp_path_factory.mktemp("teamsinstallsenv"), **teams.env())


@pytest.fixture(scope="module")
def teams_bot(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    tmp = tmp_path_factory.mktemp("teamsinstalls")
    proc = start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def purges(bot: BotProcess) -> int:
    return bot.log().count(f"teams: tenant {TENANT} purged")


def removed(bot: BotProcess, teams: FakeTeams, activity: dict[str, Any]) -> None:
    """The app removed (a team, or a personal chat), and the bot done with it."""
    before = bot.log().count("teams: removed from a ")
    signed(bot, teams, activity)
    wait_for(lambda: bot.log().count("teams: removed from a ") > before, timeout=20)


def personal_app(teams: FakeTeams, user: str, chat: str, action: str) -> dict[str, Any]:
    """The app installed ("add") or uninstalled ("remove") as a personal app: Teams' ``installationUpdate``."""
    return teams.base({"id": chat, "conversationType": "personal"}, user=user, type="installationUpdate", action=action)


def subscribed(bot: BotProcess, teams: FakeTeams, r: redis.Redis, channel: str) -> None:
    teams.members[channel] = {LEAD}
    assert "weekly" in mentioned(bot, teams, channel, "subscribe monday 09:30", LEAD, LEAD_NAME).lower()
    assert Subscriptions(r).get(WS, channel) is not None


def test_a_teams_removal_stops_its_weekly_posts_and_the_last_purges_though_someone_used_a_personal_chat(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    r = shared_redis
    for channel, group in ((TEAM_A, "aad-installs-a"), (TEAM_B, "aad-installs-b")):
        installed(teams_bot, teams, r, WS, channel, group, user=LEAD)
        subscribed(teams_bot, teams, r, channel)
    # Someone uses their personal chat with the bot (it keeps where to send their checks), without installing it.
    assert "You're in" in said(teams_bot, teams, "quiz on", "29:installs-u2", "a:personal-installs-u2")["text"]
    assert r.hexists(keys.teams_conversations(WS), "a:personal-installs-u2")

    # Team B goes: its channel's weekly post stops (the clock could post there no more); team A's stays.
    removed(teams_bot, teams, teams.channel_removed(TEAM_B, "aad-installs-b"))
    assert Subscriptions(r).get(WS, TEAM_B) is None
    assert keys.subscription_entry(WS, TEAM_B) not in r.smembers(keys.SUBSCRIPTIONS)
    assert Subscriptions(r).get(WS, TEAM_A) is not None and purges(teams_bot) == 0

    # Team A, the last install, goes: the tenant is forgotten, the personal chat someone used with it.
    removed(teams_bot, teams, teams.channel_removed(TEAM_A, "aad-installs-a"))
    wait_for(lambda: purges(teams_bot) == 1, timeout=20)
    assert not r.exists(keys.teams_conversations(WS))
    assert QuizStore(r).person(WS, "29:installs-u2") is None and Subscriptions(r).get(WS, TEAM_A) is None


def test_a_personal_app_install_keeps_the_tenant_until_it_too_is_removed(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    r = shared_redis
    before = purges(teams_bot)
    installed(teams_bot, teams, r, WS, TEAM_A, "aad-installs-a", user=LEAD)
    keeper, keeper_chat = "29:installs-keeper", "a:personal-installs-keeper"
    signed(teams_bot, teams, personal_app(teams, keeper, keeper_chat, "add"))
    wait_for(lambda: r.hexists(keys.teams_conversations(WS), keeper_chat))
    # The installer then uses the chat (their zone, "quiz on"): it stays an install.
    assert "You're in" in said(teams_bot, teams, "quiz on", keeper, keeper_chat)["text"]
    assert "You're in" in said(teams_bot, teams, "quiz on", "29:installs-u3", "a:personal-installs-u3")["text"]

    removed(teams_bot, teams, teams.channel_removed(TEAM_A, "aad-installs-a"))
    assert purges(teams_bot) == before and QuizStore(r).person(WS, keeper) is not None
    assert not r.hexists(keys.teams_conversations(WS), TEAM_A)

    removed(teams_bot, teams, personal_app(teams, keeper, keeper_chat, "remove"))
    wait_for(lambda: purges(teams_bot) == before + 1, timeout=20)
    assert not r.exists(keys.teams_conversations(WS)) and QuizStore(r).person(WS, "29:installs-u3") is None


def team_event(teams: FakeTeams, team: str, event: str, channel: str | None = None) -> dict[str, Any]:
    """A ``conversationUpdate`` Teams sends about a team (``teamDeleted``, ``teamHardDeleted``) or one of its channels
    (``channelDeleted``), as Microsoft's "Conversation events in your Teams bot" shows them: the team in
    ``channelData.team``, the channel (if any) in ``channelData.channel``, no ``membersRemoved``."""
    act = teams.base({"id": team, "conversationType": "channel", "isGroup": True}, type="conversationUpdate")
    act["channelData"].update(team={"id": team, "name": "Safeguarding"}, eventType=event,
                              **({"channel": {"id": channel, "name": "Old channel"}} if channel else {}))  # fmt: skip
    return act


def second_channel(bot: BotProcess, teams: FakeTeams, r: redis.Redis, team: str, channel: str) -> None:
    """``channel``, another channel of ``team``, subscribed by the lead by @mention there."""
    teams.members[channel] = {LEAD}
    ask = teams.channel_mention(channel, "subscribe monday 09:30", user=LEAD, name=LEAD_NAME)
    ask["channelData"]["team"] = {"id": team}
    signed(bot, teams, ask)
    assert "weekly" in str(wait_for(lambda: teams.replies_to(ask["id"]))[0]["text"]).lower()
    assert Subscriptions(r).get(WS, channel) is not None


def test_a_deleted_team_pauses_until_restored_a_hard_deleted_one_is_the_apps_removal_and_a_deleted_channel_loses_its_post(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    """Teams says a team was deleted with ``teamDeleted`` (restorable for 30 days: ``teamRestored``) and deleted for
    good with ``teamHardDeleted``, never by naming the bot in ``membersRemoved``. A deleted team's weekly posts pause
    (its install, subscription and data kept: no purge) and resume when it is restored; a hard-deleted team is the
    app's removal: its weekly posts stop and the last install's purges the tenant. A deleted channel
    (``channelDeleted``) loses its reference and weekly post; its team keeps the app."""
    r = shared_redis
    before = purges(teams_bot)
    team_c, team_d, c2 = "19:installs-c@thread.tacv2", "19:installs-d@thread.tacv2", "19:installs-c2@thread.tacv2"
    for channel, group in ((team_c, "aad-installs-c"), (team_d, "aad-installs-d")):
        installed(teams_bot, teams, r, WS, channel, group, user=LEAD)
        subscribed(teams_bot, teams, r, channel)
    second_channel(teams_bot, teams, r, team_c, c2)
    removals = teams_bot.log().count("teams: removed from a ")

    signed(teams_bot, teams, team_event(teams, team_c, "channelDeleted", channel=c2))
    wait_for(lambda: Subscriptions(r).get(WS, c2) is None)
    assert not r.hexists(keys.teams_conversations(WS), c2) and r.hexists(keys.teams_conversations(WS), team_c)
    assert keys.subscription_entry(WS, c2) not in r.smembers(keys.SUBSCRIPTIONS)
    assert Subscriptions(r).get(WS, team_c) is not None and purges(teams_bot) == before

    # Both teams soft-deleted: nothing is removed, nothing purged, and nothing posted to them.
    for team in (team_d, team_c):
        paused = teams_bot.log().count("its weekly posts are paused") + 1
        signed(teams_bot, teams, team_event(teams, team, "teamDeleted"))
        wait_for(lambda n=paused: teams_bot.log().count("its weekly posts are paused") >= n)
    time.sleep(1)  # a removal, had it begun, would have purged by now
    assert purges(teams_bot) == before and teams_bot.log().count("teams: removed from a ") == removals
    assert all(Subscriptions(r).get(WS, t) is not None and r.hexists(keys.teams_conversations(WS), t) for t in (team_c, team_d))
    monday = next_day(0, 9, 31)
    out = clock_run(env, monday)
    assert "error=team_deleted" in out and teams.weekly_posts(team_c) == [] and teams.weekly_posts(team_d) == []

    # Team D restored: its weekly posts resume; team C's stay paused.
    resumed = teams_bot.log().count("its weekly posts resume")
    signed(teams_bot, teams, team_event(teams, team_d, "teamRestored"))
    wait_for(lambda: teams_bot.log().count("its weekly posts resume") > resumed)
    out = clock_run(env, monday + timedelta(days=7))  # the next week (a paused week is marked failed for an hour)
    assert len(teams.weekly_posts(team_d)) == 1 and teams.weekly_posts(team_c) == [], out

    removed(teams_bot, teams, team_event(teams, team_d, "teamHardDeleted"))
    assert Subscriptions(r).get(WS, team_d) is None and not r.hexists(keys.teams_conversations(WS), team_d)
    assert Subscriptions(r).get(WS, team_c) is not None and purges(teams_bot) == before

    removed(teams_bot, teams, team_event(teams, team_c, "teamHardDeleted"))
    wait_for(lambda: purges(teams_bot) == before + 1, timeout=20)
    assert not r.exists(keys.teams_conversations(WS)) and Subscriptions(r).get(WS, team_c) is None


def clock_run(env: dict[str, str], at: datetime) -> str:
    """``scr-bot schedule run-due --now AT``, whatever its exit status (a paused team's week is reported failed)."""
    done = warmstart.run([sys.executable, "-m", "bot", "schedule", "run-due", "--now", at.isoformat()], env=env,
                          cwd=str(ROOT), capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.stdout + done.stderr


def tenant_keys(r: redis.Redis) -> list[str]:
    prefix = keys.teams_conversations(WS).split("}:", 1)[0] + "}:"
    return sorted(r.scan_iter(match=prefix + "*"))


def test_a_late_mention_from_a_team_the_app_left_is_answered_but_is_no_install_and_may_not_subscribe(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    """A signed @mention from a removed team's channel can arrive after the tenant's purge (queued, redelivered): it
    is a question, answered, but stores nothing for the purged tenant, least of all a reference that would count as
    an install for ever; and a ``subscribe`` there is refused calmly (the clock could post there no more)."""
    r = shared_redis
    team_e = "19:installs-e@thread.tacv2"
    installed(teams_bot, teams, r, WS, team_e, "aad-installs-e", user=LEAD)
    before = purges(teams_bot)
    removed(teams_bot, teams, teams.channel_removed(team_e, "aad-installs-e"))
    wait_for(lambda: purges(teams_bot) == before + 1, timeout=20)
    assert tenant_keys(r) == []

    assert "neglect" in mentioned(teams_bot, teams, team_e, "neglect", LEAD, LEAD_NAME).lower()
    assert tenant_keys(r) == []
    refused = mentioned(teams_bot, teams, team_e, "subscribe monday 09:30", LEAD, LEAD_NAME)
    assert "not installed in this team" in refused, refused
    assert tenant_keys(r) == [] and Subscriptions(r).get(WS, team_e) is None

    # The app installed again as a personal app and removed: that was the tenant's only install, so it is purged.
    keeper, chat = "29:installs-late", "a:personal-installs-late"
    signed(teams_bot, teams, personal_app(teams, keeper, chat, "add"))
    wait_for(lambda: r.hexists(keys.teams_conversations(WS), chat))
    removed(teams_bot, teams, personal_app(teams, keeper, chat, "remove"))
    wait_for(lambda: purges(teams_bot) == before + 2, timeout=20)
    assert tenant_keys(r) == []
