"""What the Teams tests share: activities sent to the bot process signed as the Bot Connector signs them, the
clock run as an operator runs it, and the days it is run for. (The fake Teams side is tests/fake_teams.py.)"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
import warmstart

from bot.storage import keys
from conftest import ROOT, BotProcess, http, wait_for
from fake_teams import FakeTeams

LONDON = ZoneInfo("Europe/London")


def send(bot: BotProcess, activity: dict[str, Any], token: str | None) -> Any:
    """POST an activity to the bot's /api/messages with ``token`` as its bearer (None: no Authorization)."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    return http("POST", bot.url + "/api/messages", json.dumps(activity), headers)


def signed(bot: BotProcess, teams: FakeTeams, activity: dict[str, Any]) -> Any:
    """An activity signed as the Bot Connector signs it; it must be accepted."""
    resp = send(bot, activity, teams.token_for(activity))
    assert resp.status == 200, resp.body
    return resp


def invoked(bot: BotProcess, teams: FakeTeams, activity: dict[str, Any]) -> dict[str, Any]:
    """An invoke, signed, and what its HTTP answer carries."""
    return signed(bot, teams, activity).json()


def run_due(env: dict[str, str], at: datetime) -> str:
    """``scr-bot schedule run-due --now AT``: the clock, as a process; its output."""
    done = warmstart.run([sys.executable, "-m", "bot", "schedule", "run-due", "--now", at.isoformat()], env=env,
                          cwd=str(ROOT), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def next_day(weekday: int, hour: int, minute: int = 0) -> datetime:
    """The next ``weekday`` (0 = Monday) after today, at ``hour``:``minute`` in London."""
    day = datetime.now(LONDON).replace(hour=hour, minute=minute, second=0, microsecond=0) + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def installed(bot: BotProcess, teams: FakeTeams, r: redis.Redis, ws: keys.Workspace, channel: str, group: str,
              user: str = "29:user-aad-1") -> None:  # fmt: skip
    """The bot added to ``channel``'s team by ``user``: its reference kept and its welcome card sent."""
    act = teams.channel_added(channel, group)
    act["from"]["id"] = user
    signed(bot, teams, act)
    wait_for(lambda: r.hexists(keys.teams_conversations(ws), channel))
    wait_for(lambda: any(((p["activity"].get("channelData") or {}).get("scr") or {}).get("kind") == "welcome"
                         for p in teams.posts_in(channel)))  # fmt: skip


def mentioned(bot: BotProcess, teams: FakeTeams, channel: str, text: str, user: str, name: str) -> str:
    """``@SCR Learning <text>`` in ``channel`` by ``user``: the text of the bot's reply in its thread."""
    ask = teams.channel_mention(channel, text, user=user, name=name)
    signed(bot, teams, ask)
    return str(wait_for(lambda: teams.replies_to(ask["id"]))[0]["text"])


def said(bot: BotProcess, teams: FakeTeams, text: str, user: str, chat: str) -> dict[str, Any]:
    """``text`` typed in ``user``'s personal chat with the bot: the bot's reply."""
    ask = teams.personal_message(text, conversation=chat, user=user)
    signed(bot, teams, ask)
    return wait_for(lambda: teams.replies_to(ask["id"]))[0]


def personal_app_added(bot: BotProcess, teams: FakeTeams, r: redis.Redis, ws: keys.Workspace,
                       user: str = "29:personal-app-keeper", chat: str = "a:personal-app-keeper") -> None:  # fmt: skip
    """The app added as a personal app by ``user`` (Teams' ``installationUpdate``): the tenant has an install, so its
    people's personal chats may keep what they ask for ("quiz on", "export", "digest on")."""
    signed(bot, teams, teams.base({"id": chat, "conversationType": "personal"}, user=user, type="installationUpdate",
                                  action="add"))  # fmt: skip
    wait_for(lambda: r.exists(keys.teams_installs(ws)))
