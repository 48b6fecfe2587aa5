"""The welcome card: sent once per conversation when the app is added to a team or a personal chat, however
often Teams says so, and once after an answer lost on the way (the exactly-once protocol through the delivery
port). The bot is a process (Teams alone), Redis real, Teams faked, activities signed with the fake's keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import BotProcess, bot_env, free_port, http, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams
from fakeslack import FakeSlack

APP_ID = "3d9f2c11-7b2e-4c55-9a0e-5e1f2a3b4c5d"
TENANT = "72f988bf-0000-0000-0000-000000000003"


@pytest.fixture(scope="module")
def bot(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("teamswelcome")
    env = {k: v for k, v in bot_env(module_slack, redis_server.url, tmp, **teams.env()).items() if not k.startswith("SLACK_")}
    proc = start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def send(bot: BotProcess, teams: FakeTeams, activity: dict[str, Any]) -> None:
    resp = http("POST", bot.url + "/api/messages", json.dumps(activity),
                {"Content-Type": "application/json", "Authorization": f"Bearer {teams.token_for(activity)}"})  # fmt: skip
    assert resp.status == 200, resp.body


def welcomes(teams: FakeTeams, conversation: str) -> list[dict[str, Any]]:
    return [p["activity"] for p in teams.posts_in(conversation)
            if (p["activity"].get("channelData") or {}).get("scr", {}).get("kind") == "welcome"]  # fmt: skip


def test_a_team_is_welcomed_once_however_often_teams_says_the_app_was_added(bot: BotProcess, teams: FakeTeams) -> None:
    channel = "19:welcome-team@thread.tacv2"
    for _ in range(3):  # conversationUpdate, redelivered, and again
        send(bot, teams, teams.channel_added(channel, "aad-welcome"))
    card = wait_for(lambda: welcomes(teams, channel))[0]
    time.sleep(1.5)  # the other two had time to post a second card if they were going to
    assert len(welcomes(teams, channel)) == 1
    body = json.dumps(card["attachments"][0]["content"]["body"])
    assert "Weekly post in this channel" in body and "Privacy" in body and card["text"]
    # How to set the weekly post up from Teams, and who may change it.
    assert "mention me with subscribe" in body and "unsubscribe" in body and "first added the app" in body


def test_a_personal_chat_is_welcomed_once(bot: BotProcess, teams: FakeTeams) -> None:
    conv = "a:personal-welcome"
    added = teams.base({"id": conv, "conversationType": "personal"}, type="conversationUpdate",
                       membersAdded=[{"id": f"28:{APP_ID}"}])  # fmt: skip
    send(bot, teams, added)
    send(bot, teams, {**added, "id": added["id"] + "1"})
    wait_for(lambda: welcomes(teams, conv))
    time.sleep(1.5)
    assert len(welcomes(teams, conv)) == 1


def test_after_a_lost_answer_the_welcome_is_found_not_sent_again(bot: BotProcess, teams: FakeTeams) -> None:
    channel = "19:welcome-lost@thread.tacv2"
    teams.lose_posts = 1
    send(bot, teams, teams.channel_added(channel, "aad-welcome-lost"))
    wait_for(lambda: welcomes(teams, channel))
    time.sleep(3)  # the settle and Graph look-up, then (the fault) a second send
    send(bot, teams, teams.channel_added(channel, "aad-welcome-lost"))
    time.sleep(2)
    assert len(welcomes(teams, channel)) == 1
    assert "welcome card in a team conversation: recovered" in bot.log()
