"""A whole week in Microsoft Teams, end to end (issue 25, "How it is tested"): the app installed (welcome card),
the channel subscribed by @mention, the week's post made once by the clock and once only again after the Bot
Connector's answer was lost, two replies in its thread, a private reflection through the Reflect dialog, Friday's
summary, a lookup in the ``scr`` message extension, a knowledge check answered, the month's digest, and the app
removed: nothing of the tenant left in Redis.

The bot is a process (``scr-bot run``), the clock is ``scr-bot schedule run-due --now ...`` as an operator runs it,
Redis is real, Teams is faked at its HTTP boundary (tests/fake_teams.py) and every activity is signed with the
fake's keys as the Bot Connector signs it. (The same week in Slack: tests/test_http_e2e.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis

from bot.learning.quiz import QuizStore
from bot.reflections.store import ReflectionStore
from bot.storage import keys
from bot.weekly.schedules import Subscriptions
from conftest import BotProcess, bot_env, free_port, http, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams
from fakeslack import FakeSlack
from teams_helpers import installed, invoked, mentioned, next_day, run_due, said, signed

APP_ID = "00000000-0000-0000-0000-00000000eeee"
TENANT = "72f988bf-0000-0000-0000-00000000eeee"
GROUP = "aad-group-week"
WS = keys.Workspace(TENANT, platform="teams")
CHANNEL = "19:the-whole-week@thread.tacv2"
INSTALLER, LEAD, ANN, BEN = "29:week-installer", "29:week-lead", "29:week-ann", "29:week-ben"
LEAD_CHAT = "a:personal-week-lead"


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def env(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any, port: int,
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # fmt: skip
    return bot_env(module_slack, redis_server.url, tmp_path_factory.mktemp("teamsweek"), **teams.env(),
                   TEAMS_PUBLIC_URL=f"http://127.0.0.1:{port}")  # fmt: skip


@pytest.fixture(scope="module")
def teams_bot(env: dict[str, str], port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path_factory.mktemp("teamsweekbot") / "bot.log", port)
    yield proc
    stop_bot(proc)


def tenant_traces(r: redis.Redis) -> list[str]:
    """Every key that names the tenant, or holds it in its value or members (a global index, a link's token),
    but the purge's own tombstone (``keys.PURGED``: the tenant's id and when, so a restore never brings back
    an older backup of it; no personal data, PRIVACY.md)."""
    found = []
    for key in r.scan_iter(count=1000):
        name = key.decode() if isinstance(key, bytes) else key
        if name == keys.PURGED:
            continue
        if TENANT in name:
            found.append(name)
            continue
        kind = r.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        values: list[Any] = []
        if kind == "string":
            values = [r.get(key)]
        elif kind == "set":
            values = list(r.smembers(key))
        elif kind == "hash":
            values = [f"{k}={v}" for k, v in r.hgetall(key).items()]
        elif kind == "zset":
            values = r.zrange(key, 0, -1)
        elif kind == "list":
            values = r.lrange(key, 0, -1)
        if any(TENANT in (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for v in values if v):
            found.append(f"{name} (in its {kind})")
    return found


def first_wednesday_of_next_month(after: datetime) -> datetime:
    """10:00 London on a working day in the month after ``after``'s first week, never a bank holiday in England."""
    day = (after.replace(day=1, hour=10, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=2)
    while day.weekday() != 2:
        day += timedelta(days=1)
    return day


def test_a_whole_week_in_teams(teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str],
                               shared_redis: redis.Redis) -> None:  # fmt: skip
    r = shared_redis
    # ----- Monday morning: the app is added to the team; the channel is welcomed once.
    installed(teams_bot, teams, r, WS, CHANNEL, GROUP, user=INSTALLER)
    welcome = [p for p in teams.posts_in(CHANNEL) if p not in teams.weekly_posts(CHANNEL)]
    assert len(welcome) == 1 and "mention me with subscribe" in json.dumps(welcome[0]["activity"]["attachments"])

    # ----- The team's lead subscribes the channel by @mention.
    subscribed = mentioned(teams_bot, teams, CHANNEL, "subscribe monday 09:30", LEAD, "Lee Lead")
    assert "set up a weekly learning point" in subscribed and "Monday 09:30" in subscribed
    schedule = Subscriptions(r).get(WS, CHANNEL)
    assert schedule is not None and schedule.created_by == LEAD and schedule.platform == "teams"

    # ----- The week's post, from the clock: the Connector acts but its answer is lost on the way back. The post
    # is looked for (Graph) and found, never made a second time; the clock run again finds the week done.
    monday = next_day(0, 9, 31)
    teams.clock = monday.timestamp  # Teams stamps its messages in the week being played, as the clock runs it
    teams.lose_posts = 1
    outcomes = run_due(env, monday)
    assert teams.lose_posts == 0 and "outcome unknown" in outcomes, outcomes  # the fault happened
    outcomes += run_due(env, monday) + run_due(env, monday + timedelta(minutes=5))
    assert len(teams.weekly_posts(CHANNEL)) == 1, (outcomes, teams.weekly_posts(CHANNEL))
    (post,) = teams.weekly_posts(CHANNEL)
    assert f"{schedule.id} 20" in outcomes and f"already ts={post['id']}" in outcomes, outcomes
    root = post["id"]
    card = post["activity"]["attachments"][0]["content"]
    assert post["activity"]["text"].startswith("Learning point of the week") and card["fallbackText"]

    # ----- Two replies in its thread: reflections (the first masked), each from its author.
    replied = monday + timedelta(hours=2)
    base = int(replied.timestamp() * 1000)
    replies = {ANN: (str(base), "<p>I spoke with Sarah Jones about professional curiosity</p>"),
               BEN: (str(base + 1), "Checking what we are told, every time")}  # fmt: skip
    for who, (mid, text) in replies.items():
        signed(teams_bot, teams, teams.thread_activity("message", CHANNEL, root, mid, text=text, user=who, at=replied))
    store = ReflectionStore(r, 365)
    stored = wait_for(lambda: (got := {x.message_ts: x for x in store.for_thread(WS, CHANNEL, root)})
                      and len(got) == 2 and got)  # fmt: skip
    assert "Sarah" not in stored[replies[ANN][0]].text and stored[replies[BEN][0]].user == BEN

    # ----- A private reflection, through the post's Reflect button and its dialog.
    (reflect,) = card["actions"]
    in_thread = {"id": f"{CHANNEL};messageid={root}", "conversationType": "channel", "isGroup": True}
    opened = invoked(teams_bot, teams, teams.task("task/fetch", reflect["data"], in_thread, user=LEAD, reply_to=root))
    (save,) = opened["task"]["value"]["card"]["content"]["actions"]
    saved = invoked(teams_bot, teams, teams.task("task/submit", {**save["data"], "stood_out": "Chronologies matter"},
                                                 in_thread, user=LEAD))  # fmt: skip
    assert saved["task"]["type"] == "message" and "Saved" in saved["task"]["value"]
    (private,) = store.for_user(WS, LEAD)
    assert private.visibility == "private" and (private.channel, private.thread_ts) == (CHANNEL, root)
    assert teams.replies_to(root) == []  # nothing of it reached the channel

    # ----- A lookup in the message extension, from the compose box.
    found = invoked(teams_bot, teams, teams.extension_query("neglect", conversation=LEAD_CHAT, user=LEAD))
    rows = found["composeExtension"]["attachments"]
    assert len(rows) >= 2 and all(row["preview"]["content"]["title"] and row["content"]["fallbackText"] for row in rows)

    # ----- Tuesday: the lead's knowledge check, from the clock, answered (once, however often it is pressed).
    assert "You're in" in said(teams_bot, teams, "quiz on", LEAD, LEAD_CHAT)["text"]
    tuesday = monday + timedelta(days=1, hours=2)
    assert f"quiz {LEAD}: sent check=" in (out := run_due(env, tuesday)), out
    (check,) = [s["activity"] for s in teams.sent if s["conversation"] == LEAD_CHAT and s["reply_to"] is None]
    answer = check["attachments"][0]["content"]["actions"][0]
    for _ in range(2):
        pressed = invoked(teams_bot, teams, teams.card_action(answer["data"], answer["verb"], conversation=LEAD_CHAT, user=LEAD))
        assert pressed["statusCode"] == 200
    assert len(QuizStore(r).answers(WS, LEAD)) == 1

    # ----- Friday: the summary in the post's thread counts the two replies, never the private reflection.
    friday = monday.replace(hour=16, minute=1) + timedelta(days=4)
    assert f"{schedule.id} summary" in (out := run_due(env, friday)), out
    (summary,) = teams.replies_to(root)
    assert "2 reflections from 2 people" in json.dumps(summary["attachments"][0]["content"]["body"]) and summary["text"]

    # ----- Next month: the digest, in the lead's personal chat, with its chart.
    teams.members[CHANNEL] = {LEAD}
    assert "monthly digest of 1 channel" in said(teams_bot, teams, "digest on", LEAD, LEAD_CHAT)["text"]
    digest_day = first_wednesday_of_next_month(monday)
    assert f"digest {CHANNEL} {LEAD}: sent" in (out := run_due(env, digest_day)), out
    digest = [s["activity"] for s in teams.sent if s["conversation"] == LEAD_CHAT and s["reply_to"] is None][-1]
    (image,) = [e for e in digest["attachments"][0]["content"]["body"] if e["type"] == "Image"]
    assert http("GET", image["url"]).status == 200

    # ----- The app removed: from the team, and from the lead's personal chat. Nothing of the tenant is left.
    assert tenant_traces(r)  # the check below can see what the week kept
    signed(teams_bot, teams, teams.channel_removed(CHANNEL, GROUP))
    gone = teams.base({"id": LEAD_CHAT, "conversationType": "personal"}, user=LEAD, type="installationUpdate",
                      action="remove")  # fmt: skip
    signed(teams_bot, teams, gone)
    wait_for(lambda: "teams: tenant " + TENANT + " purged" in teams_bot.log(), timeout=20)
    assert tenant_traces(r) == []
    assert http("GET", image["url"]).status == 404  # the digest's chart link went with the tenant
    assert Subscriptions(r).get(WS, CHANNEL) is None and ": posted" not in run_due(env, monday + timedelta(days=7))
