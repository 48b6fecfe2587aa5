"""Microsoft Teams: what races with the app's removal from a team. A channel @mention (a lookup, a ``subscribe``)
read before the removal and written after it must not bring the install back, keep the tenant from its purge, or
leave a weekly post the clock would send; a burst of set-ups of one channel makes one weekly post, set up once. The
bot is a process, Redis is real, Teams is faked at its HTTP boundary (tests/fake_teams.py) and every activity is
signed as the Bot Connector signs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bot.storage import keys
from bot.weekly.schedules import Subscriptions
from conftest import BotProcess, bot_env, free_port, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams
from fakeslack import FakeSlack
from teams_helpers import installed, mentioned, send, signed

APP_ID = "00000000-0000-0000-0000-0000000ace55"
TENANT = "72f988bf-0000-0000-0000-0000000ace55"
WS = keys.Workspace(TENANT, platform="teams")
LEAD, LEAD_NAME = "29:races-lead", "Ann Lead"


@pytest.fixture(scope="module")
def teams_bot(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("teamsraces")
    proc = start_bot(["run", "--no-scheduler"], bot_env(module_slack, redis_server.url, tmp, **teams.env()),
                     tmp / "bot.log", free_port())  # fmt: skip
    yield proc
    stop_bot(proc)


def purges(bot: BotProcess) -> int:
    return bot.log().count(f"teams: tenant {TENANT} purged")


def tenant_keys(r: redis.Redis) -> list[str]:
    prefix = keys.teams_conversations(WS).split("}:", 1)[0] + "}:"
    return sorted(r.scan_iter(match=prefix + "*"))


def tenant_subscriptions(r: redis.Redis) -> list[str]:
    return sorted(e for e in r.smembers(keys.SUBSCRIPTIONS) if TENANT in e)


def at_once(bot: BotProcess, teams: FakeTeams, activities: list[dict[str, Any]]) -> None:
    """Send every activity at the same moment (one thread each), signed; all must be accepted."""
    statuses: list[int] = []
    start = threading.Event()

    def fire(act: dict[str, Any]) -> None:
        start.wait()
        statuses.append(send(bot, act, teams.token_for(act)).status)

    threads = [threading.Thread(target=fire, args=(a,)) for a in activities]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join()
    assert statuses == [200] * len(activities), statuses


def test_a_reference_written_back_after_the_removal_is_no_install(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    """The race, its writes put in the order that broke it: a mention read the team's reference (the app still
    installed), the removal ran (the tenant's last install: purged), then the mention wrote the reference back as
    it had read it. That write is no install: the team may not subscribe, and the tenant's next last removal
    purges it."""
    r = shared_redis
    team = "19:races-a@thread.tacv2"
    installed(teams_bot, teams, r, WS, team, "aad-races-a", user=LEAD)
    stale = r.hget(keys.teams_conversations(WS), team)
    before = purges(teams_bot)
    signed(teams_bot, teams, teams.channel_removed(team, "aad-races-a"))
    wait_for(lambda: purges(teams_bot) == before + 1, timeout=20)
    r.hset(keys.teams_conversations(WS), team, stale)  # the mention's late write: the reference as it read it

    teams.members[team] = {LEAD}
    refused = mentioned(teams_bot, teams, team, "subscribe monday 09:30", LEAD, LEAD_NAME)
    assert "not installed in this team" in refused, refused
    assert Subscriptions(r).get(WS, team) is None and tenant_subscriptions(r) == []

    keeper, chat = "29:races-keeper", "a:personal-races-keeper"
    app = teams.base({"id": chat, "conversationType": "personal"}, user=keeper, type="installationUpdate", action="add")
    signed(teams_bot, teams, app)
    wait_for(lambda: r.hexists(keys.teams_conversations(WS), chat))
    # The install's work after its ack (its mark, then its welcome card) done before the removal comes, as Teams
    # sends them: otherwise that work outlives this test and a late purge of the tenant runs into the next one.
    wait_for(lambda: r.sismember(keys.teams_installs(WS), f"personal:{chat}"))
    wait_for(lambda: [s for s in teams.sent if s["conversation"] == chat])
    signed(teams_bot, teams, {**app, "action": "remove", "id": app["id"] + "-remove"})
    wait_for(lambda: purges(teams_bot) == before + 2, timeout=20)
    assert tenant_keys(r) == []


def test_a_burst_of_set_ups_of_one_channel_sets_it_up_once(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    """Eight "subscribe" mentions of one channel at the same moment (six channels, one after another): one weekly
    post, and one "set up" (the others update it)."""
    r = shared_redis
    for trial in range(6):
        team = f"19:races-b{trial}@thread.tacv2"
        installed(teams_bot, teams, r, WS, team, "aad-races-b", user=LEAD)
        teams.members[team] = {LEAD}
        asks = [teams.channel_mention(team, "subscribe monday 09:30", user=LEAD, name=LEAD_NAME) for _ in range(8)]
        at_once(teams_bot, teams, asks)
        texts = [str(wait_for(lambda a=a: teams.replies_to(a["id"]), timeout=30)[0]["text"]) for a in asks]
        assert sum("set up a weekly" in t for t in texts) == 1, (trial, texts)
        assert sum("updated a weekly" in t for t in texts) == 7, (trial, texts)
        assert Subscriptions(r).get(WS, team) is not None


def test_subscribes_racing_the_last_removal_leave_no_weekly_post_and_no_tenant_data(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    """The app removed from the tenant's last team while mentions there ask to set up its weekly post, at the same
    moment, several times: whatever the order, nothing of the tenant is left and no schedule."""
    r = shared_redis
    for leftover in r.hkeys(keys.teams_conversations(WS)):  # the test before left its teams installed
        signed(teams_bot, teams, teams.channel_removed(leftover, "aad-races-b"))
    wait_for(lambda: tenant_keys(r) == [], timeout=20)
    for trial in range(4):
        team, group = f"19:races-c{trial}@thread.tacv2", f"aad-races-c{trial}"
        installed(teams_bot, teams, r, WS, team, group, user=LEAD)
        teams.members[team] = {LEAD}
        asks = [teams.channel_mention(team, "subscribe monday 09:30", user=LEAD, name=LEAD_NAME) for _ in range(6)]
        before = purges(teams_bot)
        at_once(teams_bot, teams, [teams.channel_removed(team, group), *asks])
        wait_for(lambda before=before: purges(teams_bot) > before, timeout=20)
        for a in asks:
            wait_for(lambda a=a: teams.replies_to(a["id"]), timeout=30)
        time.sleep(0.5)  # nothing is written after the last answer
        assert tenant_subscriptions(r) == [], (trial, tenant_subscriptions(r))
        assert tenant_keys(r) == [], (trial, tenant_keys(r))


def test_a_null_in_an_activitys_lists_is_skipped_and_the_rest_is_read(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    """A ``null`` among ``entities``, ``membersAdded`` or ``membersRemoved`` (Teams sends none) is skipped, and what
    is beside it is read: the mention is answered, the install kept, and the bot's removal named after a ``null``
    still removes it (a removal lost would keep data the bot promised to purge). No traceback."""
    r = shared_redis
    for leftover in r.hkeys(keys.teams_conversations(WS)):
        signed(teams_bot, teams, teams.channel_removed(leftover, "aad-races"))
    wait_for(lambda: tenant_keys(r) == [], timeout=20)
    team, group = "19:races-d@thread.tacv2", "aad-races-d"
    added = teams.channel_added(team, group)
    added["membersAdded"] = [None, *added["membersAdded"]]
    signed(teams_bot, teams, added)
    wait_for(lambda: r.hexists(keys.teams_conversations(WS), team))
    ask = teams.channel_mention(team, "neglect", user=LEAD, name=LEAD_NAME)
    ask["entities"] = [None, *ask["entities"]]
    signed(teams_bot, teams, ask)
    assert "neglect" in str(wait_for(lambda: teams.replies_to(ask["id"]))[0]).lower()
    before = purges(teams_bot)
    gone = teams.channel_removed(team, group)
    gone["membersRemoved"] = [None, *gone["membersRemoved"]]
    signed(teams_bot, teams, gone)
    wait_for(lambda: purges(teams_bot) == before + 1, timeout=20)
    assert tenant_keys(r) == [] and "Traceback" not in teams_bot.log()


def test_a_personal_chat_in_a_tenant_the_app_left_stores_nothing(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    """After the tenant's last removal (its purge), someone types "quiz on", "export" or "digest on" in their
    personal chat: nothing is kept (no removal would ever come to purge it), and they are told the app must be
    added first; a search is still answered."""
    r = shared_redis
    team, group = "19:races-e@thread.tacv2", "aad-races-e"
    installed(teams_bot, teams, r, WS, team, group, user=LEAD)
    before = purges(teams_bot)
    signed(teams_bot, teams, teams.channel_removed(team, group))
    wait_for(lambda: purges(teams_bot) == before + 1, timeout=20)
    assert tenant_keys(r) == []
    user, chat = "29:races-alone", "a:personal-races-alone"
    for words in ("quiz on", "export", "digest on"):
        ask = teams.personal_message(words, conversation=chat, user=user)
        ask["localTimezone"] = "Europe/Paris"
        signed(teams_bot, teams, ask)
        reply = str(wait_for(lambda ask=ask: teams.replies_to(ask["id"]))[0].get("text"))
        assert "not added" in reply, (words, reply)
    ask = teams.personal_message("neglect", conversation=chat, user=user)
    signed(teams_bot, teams, ask)
    assert "neglect" in str(wait_for(lambda: teams.replies_to(ask["id"]))[0]).lower()
    assert tenant_keys(r) == []
    assert not any(TENANT in e for e in r.smembers(keys.QUIZ_WORKSPACES))
