"""Microsoft Teams: what keeps a tenant. Its installs are its teams and the personal chats the app was installed
in as a personal app; a personal chat the bot only keeps to answer in (someone typed "quiz on" or "export" there)
is not one. Removing the app from a team stops that team's channels' weekly posts; removing its last install
purges the tenant, as a Slack uninstall purges a workspace (README, PRIVACY.md). The bot is a process, Redis is
real, Teams is faked at its HTTP boundary (tests/fake_teams.py) and every activity is signed as the Bot Connector
signs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bot.learning.quiz import QuizStore
from bot.storage import keys
from bot.weekly.schedules import Subscriptions
from conftest import BotProcess, bot_env, free_port, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams
from fakeslack import FakeSlack
from teams_helpers import installed, mentioned, said, signed

APP_ID = "00000000-0000-0000-0000-0000000a11a5"
TENANT = "72f988bf-0000-0000-0000-0000000a11a5"
WS = keys.Workspace(TENANT, platform="teams")
LEAD, LEAD_NAME = "29:installs-lead", "Ann Lead"
TEAM_A, TEAM_B = "19:installs-a@thread.tacv2", "19:installs-b@thread.tacv2"


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    fake = FakeTeams(APP_ID, "fake-app-password-a11", TENANT).serve()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def teams_bot(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("teamsinstalls")
    proc = start_bot(["run", "--no-scheduler"], bot_env(module_slack, redis_server.url, tmp, **teams.env()),
                     tmp / "bot.log", free_port())  # fmt: skip
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
