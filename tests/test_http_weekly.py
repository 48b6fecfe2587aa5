"""Self-service schedules in Slack, end to end over signed HTTP, and the bot with Redis down."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from blockkit import assert_valid_message, dumps
from bot.content.corpus import load_corpus
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage import keys
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Subscriptions
from conftest import CONTENT_DIR, BotProcess, command_answer, http, wait_for
from fakeslack import FakeSlack

TEAM = "T0AAA"
pytestmark = pytest.mark.history_limits  # as a multi-workspace install outside the Marketplace


@pytest.fixture
def store(shared_redis: redis.Redis) -> redis.Redis:
    return shared_redis


def test_subscribe_in_a_channel_the_bot_is_not_in_says_to_invite_it(bot: BotProcess, module_slack: FakeSlack,
                                                                    store: redis.Redis) -> None:
    module_slack.members["C0NOTIN"] = set()
    msg = command_answer(bot, module_slack, "subscribe health monday 09:30", channel="C0NOTIN")
    assert msg["response_type"] == "ephemeral"
    assert "/invite @scr" in msg["text"]
    assert Subscriptions(store).get(Workspace(TEAM), "C0NOTIN") is None


def test_subscribe_then_schedule_then_unsubscribe(bot: BotProcess, module_slack: FakeSlack, store: redis.Redis) -> None:
    msg = command_answer(bot, module_slack, "subscribe health sudi tuesday 8:45am", channel="C0SUB", user="U0LEAD")
    assert msg["response_type"] == "in_channel", msg
    assert "<@U0LEAD> set up a weekly learning point" in msg["text"]
    assert "Tuesday 08:45 (Europe/London)" in msg["text"]
    assert "Health, SUDI &amp; safer sleep" in msg["text"]
    saved = Subscriptions(store).get(Workspace(TEAM), "C0SUB")
    assert (saved.post, saved.sectors, saved.themes, saved.created_by) == ("45 8 * * tue", ("health",), ("sudi",), "U0LEAD")
    assert Subscriptions(store).all() == [saved]

    shown = bot.command("schedule", channel="C0SUB").json()
    assert shown["response_type"] == "ephemeral"
    nxt = saved.post_trigger().get_next_fire_time(None, datetime.now(ZoneInfo("Europe/London")))
    assert f"{nxt:%A %-d %B %Y at %H:%M}" in shown["text"]

    again = command_answer(bot, module_slack, "subscribe friday 14:00", channel="C0SUB", user="U0LEAD")
    assert "updated" in again["text"] and "Friday 14:00" in again["text"]

    gone = command_answer(bot, module_slack, "unsubscribe", channel="C0SUB", user="U0LEAD")
    assert gone["response_type"] == "in_channel" and "stopped" in gone["text"]
    assert Subscriptions(store).get(Workspace(TEAM), "C0SUB") is None
    assert "No weekly learning point" in bot.command("schedule", channel="C0SUB").json()["text"]
    assert "no weekly learning point" in command_answer(bot, module_slack, "unsubscribe", channel="C0SUB")["text"].lower()


def test_subscribe_to_few_points_warns_how_soon_they_repeat(bot: BotProcess, module_slack: FakeSlack,
                                                            store: redis.Redis) -> None:
    corpus = load_corpus(CONTENT_DIR)
    msg = command_answer(bot, module_slack, "subscribe police cse monday 09:30", channel="C0FEW", user="U0LEAD")
    saved = Subscriptions(store).get(Workspace(TEAM), "C0FEW")
    n = len([p for p in corpus.points if saved.matches(p) and p.kind != "background"])
    assert f":warning: Only {n} learning points match these filters" in msg["text"]
    assert f"start repeating after {n} weeks" in msg["text"]
    assert f"({n} learning points in rotation)" in msg["text"]
    broad = command_answer(bot, module_slack, "subscribe police monday 09:30", channel="C0FEW", user="U0LEAD")
    assert "repeating" not in broad["text"]


def test_subscribe_background_brings_background_points_into_rotation(bot: BotProcess, module_slack: FakeSlack,
                                                                    store: redis.Redis) -> None:
    corpus = load_corpus(CONTENT_DIR)
    plain = command_answer(bot, module_slack, "subscribe police", channel="C0BG", user="U0LEAD")
    with_bg = command_answer(bot, module_slack, "subscribe police background", channel="C0BG", user="U0LEAD")
    saved = Subscriptions(store).get(Workspace(TEAM), "C0BG")
    assert saved.background is True
    every = [p for p in corpus.points if saved.matches(p)]
    practice = [p for p in every if p.kind != "background"]
    assert f"({len(practice)} learning points in rotation)" in plain["text"]
    assert f"justice, with background points ({len(every)} learning points in rotation)" in with_bg["text"]


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        ("subscribe funday", "didn't understand “funday”"),
        ("subscribe <!channel>", "“&lt;!channel&gt;”"),
        ("subscribe 01:30 sunday", "does not exist in Europe/London"),
        ("subscribe sunday 02:30 America/New_York", "02:30 does not exist in America/New_York on Sunday"),
        ("subscribe sunday 01:30 america/new_york", "01:30 happens twice in America/New_York on Sunday"),
        ("subscribe health monday Manchester", "I need a time zone rather than a town, such as `Europe/London`"),
        ("subscribe monday 09:30 Paris", "Did you mean the time zone `Europe/Paris`?"),
        ("subscribe monday Europe/Lodnon", "did you mean `Europe/London`?"),
    ],
)
def test_subscribe_explains_what_it_cannot_use(bot: BotProcess, store: redis.Redis, args: str, expect: str) -> None:
    msg = bot.command(args, channel="C0BAD").json()
    assert msg["response_type"] == "ephemeral"
    assert expect in msg["text"], msg["text"]
    assert "<!channel>" not in msg["text"]
    assert Subscriptions(store).get(Workspace(TEAM), "C0BAD") is None


def test_subscribe_in_a_dm_is_refused(bot: BotProcess) -> None:
    assert "team channel" in bot.command("subscribe", channel="D0DM").json()["text"]


def test_week_right_after_subscribe_shows_the_subscription(bot: BotProcess, store: redis.Redis) -> None:
    assert "No learning point of the week" in dumps(bot.command("week", channel="C0NEW").json())
    bot.command("subscribe health tuesday 10:15", channel="C0NEW", user="U0LEAD")
    wait_for(lambda: Subscriptions(store).get(Workspace(TEAM), "C0NEW"))  # saved just after the ack
    text = bot.command("week", channel="C0NEW").json()["text"]
    assert "subscribed" in text and "Tuesday 10:15" in text and "Next post:* Tuesday" in text, text


def test_week_shows_the_point_posted_in_this_channel_and_schedule_shows_failures(
        bot: BotProcess, module_slack: FakeSlack, store: redis.Redis) -> None:  # fmt: skip
    assert "No learning point of the week" in dumps(bot.command("week", channel="C0WEEK").json())
    command_answer(bot, module_slack, "subscribe police monday 09:30", channel="C0WEEK", user="U0LEAD")
    schedule = Subscriptions(store).get(Workspace(TEAM), "C0WEEK")
    corpus = load_corpus(CONTENT_DIR)
    poster = WeeklyPoster(store, SlackDeliveries(make_client("xoxb-test", module_slack.url), corpus), corpus)
    monday = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/London"))
    result = poster.deliver(schedule, monday)
    assert result.outcome == "posted"
    week = bot.command("week", channel="C0WEEK").json()
    assert_valid_message(week)
    assert f"`{result.point}`" in dumps(week)

    module_slack.channel_errors["C0WEEK"] = "is_archived"
    assert poster.deliver(schedule, monday + timedelta(days=7)).outcome == "failed"
    shown = bot.command("schedule", channel="C0WEEK").json()["text"]
    assert "Last attempt failed" in shown and "is_archived" in shown
    del module_slack.channel_errors["C0WEEK"]


def test_read_more_on_a_weekly_post_answers_privately(bot: BotProcess, module_slack: FakeSlack) -> None:
    url = module_slack.response_url()
    assert bot.action("scr_read_more", "sudi", response_url=url, message_ts="1.2").status == 200
    body = wait_for(lambda: next((r for r in module_slack.responses if r.get("_url") == url), None))
    assert body["response_type"] == "ephemeral" and body["replace_original"] is False
    assert "SUDI" in dumps(body)


def test_redis_down_never_breaks_a_lookup(bot_without_redis: BotProcess, module_slack: FakeSlack) -> None:
    resp = bot_without_redis.command("neglect")
    assert resp.status == 200
    assert "Neglect" in dumps(resp.json())
    week = bot_without_redis.command("week", channel="C0X").json()
    assert "can't reach my storage" in week["text"]
    sub = command_answer(bot_without_redis, module_slack, "subscribe", channel="C0X")
    assert "can't reach my storage" in sub["text"] and "Nothing was changed" in sub["text"]
    ready = http("GET", bot_without_redis.url + "/readyz")
    assert ready.status == 503
    assert ready.json()["redis"]["ok"] is False and ready.json()["slack"]["ok"] is True
    health = http("GET", bot_without_redis.url + "/healthz")  # alive all the same: no restart for Redis's outage
    assert health.status == 200 and health.json()["ok"] is True
    assert health.json()["redis"]["breaker_open"] is True  # information only, from the calls above


def test_example_schedule_is_listed_and_previewed_offline(tmp_path: Path) -> None:
    import os
    import sys

    from conftest import ROOT

    env = {"PATH": os.environ["PATH"], "SCR_DATA_DIR": str(tmp_path / "var"), "HOME": str(tmp_path)}
    out = warmstart.run([sys.executable, "-m", "bot", "schedule", "list"], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "example-health-team" in out.stdout and "disabled" in out.stdout and "next:" in out.stdout
    prev = warmstart.run([sys.executable, "-m", "bot", "schedule", "preview", "example-health-team", "--weeks", "8"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert prev.returncode == 0, prev.stderr
    lines = prev.stdout.strip().splitlines()
    assert len(lines) == 8
    ids = [line.split()[4] for line in lines]
    assert len(set(ids)) == 8  # no repeats
    corpus = load_corpus(CONTENT_DIR)
    assert all("health" in corpus.by_id[i].sectors or "multi-agency" in corpus.by_id[i].sectors for i in ids)


def test_unsubscribe_clears_rotation_status_and_app_home(bot: BotProcess, module_slack: FakeSlack,
                                                        store: redis.Redis) -> None:
    command_answer(bot, module_slack, "subscribe monday 09:30", channel="C0LEAVE", user="U0LEAD")
    schedule = Subscriptions(store).get(Workspace(TEAM), "C0LEAVE")
    corpus = load_corpus(CONTENT_DIR)
    poster = WeeklyPoster(store, SlackDeliveries(make_client("xoxb-test", module_slack.url), corpus), corpus)
    assert poster.deliver(schedule, datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/London"))).outcome == "posted"
    ws = schedule.workspace
    left_behind = [*keys.rotation(ws, schedule.id), keys.schedule_status(ws, schedule.id), keys.channel_week(ws, "C0LEAVE")]
    assert all(store.exists(k) for k in left_behind)

    def home() -> str:
        n = len(module_slack.views)
        opened = {"type": "app_home_opened", "user": "U0LEAD", "channel": "D0LEAD", "tab": "home", "event_ts": "1.1"}
        assert bot.event(opened, event_id=f"EvHome{n}").status == 200
        return dumps(wait_for(lambda: module_slack.views[n:])[0]["view"])  # published after the ack

    assert "<#C0LEAVE>" in home()
    assert "stopped" in command_answer(bot, module_slack, "unsubscribe", channel="C0LEAVE", user="U0LEAD")["text"]
    assert [k for k in left_behind if store.exists(k)] == []
    assert "<#C0LEAVE>" not in home()  # App Home no longer lists the channel
    assert store.exists(keys.weekly_claim(ws, schedule.id, "2026-W48"))  # subscribing again cannot post this week twice
