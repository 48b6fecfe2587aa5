"""Spaced knowledge checks and the learning lead's digest, end to end.

Signed requests into the running bot, the clock's own work done by real `scr-bot schedule run-due --now`
processes with a controlled clock, a real Redis and the local Slack: a person opts in, gets a check,
answers; a missed check returns on the spaced schedule; the week's summary shows the aggregate; the
digest DM arrives with its chart; the report command prints the evidence.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from blockkit import assert_valid_message, dumps
from bot.config import is_bank_holiday
from bot.content.corpus import Corpus
from bot.storage import keys
from bot.storage.store import Workspace
from conftest import ROOT, BotProcess, RedisServer, bot_env, command_answer, wait_for
from fakeslack import FakeSlack as LocalSlack

LONDON = ZoneInfo("Europe/London")
TEAM, CHANNEL, LEAD = "T0AAA", "C0LEARN", "U0LEAD"
PEOPLE = ("U0ANN", "U0BEN", "U0CAT")


def next_day(after: datetime, weekday: int, hour: int, minute: int = 0) -> datetime:
    """The first ``weekday`` strictly after ``after``'s date, at hour:minute London time."""
    day = after.date() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)


def first_working_day_of_next_month(after: datetime) -> datetime:
    day = (after.replace(day=1) + timedelta(days=32)).replace(day=1)
    while day.weekday() >= 5 or is_bank_holiday("england-and-wales", day.date()):  # 1 January is no working day
        day += timedelta(days=1)
    return day.replace(hour=10, minute=0)


@pytest.fixture
def r(shared_redis: redis.Redis) -> redis.Redis:
    return shared_redis


@pytest.fixture
def cli(module_slack: LocalSlack, redis_server: RedisServer, tmp_path: Path):  # noqa: ANN201
    env = bot_env(module_slack, redis_server.url, tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = warmstart.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env,
                                cwd=ROOT, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    return run


def answer_click(bot: BotProcess, slack: LocalSlack, user: str, message: dict, option: int, at: datetime) -> dict:
    """Press one answer button on a check's DM, as Slack sends it (Slack's action_ts is when it was clicked)."""
    buttons = next(b for b in message["blocks"] if b["type"] == "actions")["elements"]
    button = buttons[option]
    response_url = slack.response_url()
    payload = {
        "type": "block_actions", "team": {"id": TEAM, "domain": "team"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM}, "api_app_id": "A0SCR",
        "container": {"type": "message", "channel_id": message["channel"], "message_ts": message["ts"],
                      "is_ephemeral": False},
        "channel": {"id": message["channel"], "name": "directmessage"}, "trigger_id": f"trig.{time.time()}",
        "response_url": response_url, "message": message,
        "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "b", "value": button["value"],
                     "action_ts": f"{at.timestamp():.6f}"}],
    }  # fmt: skip
    resp = bot.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert resp.status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [x for x in slack.responses if x.get("_url") == response_url]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError("no response to the answer")


def option_index(corpus: Corpus, check_id: str, right: bool) -> int:
    check = corpus.check(check_id)
    return next(i for i, o in enumerate(check.options) if (o == check.answer) == right)


def dm_checks(slack: LocalSlack, user: str) -> list[dict]:
    return [m for m in slack.channel_messages("D" + user) if "Your knowledge check" in dumps(m.get("blocks", []))]


def check_of(message: dict) -> str:
    value = next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    return json.loads(value)["c"]


def test_opt_in_answer_spaced_return_summary_digest_and_report(bot: BotProcess, module_slack: LocalSlack,
                                                               r: redis.Redis, corpus: Corpus, cli) -> None:  # noqa: ANN001
    now = datetime.now(LONDON)
    tuesday = next_day(now, 1, 11)  # a quiz day, in working hours, after today
    monday = tuesday - timedelta(days=1, hours=1, minutes=30)  # 09:30: the weekly post
    friday = tuesday + timedelta(days=3, hours=5)  # 16:00: the summary
    digest_day = first_working_day_of_next_month(tuesday)

    # A team lead sets up the weekly post; the clock posts it; three people reflect in its thread.
    assert command_answer(bot, module_slack, "subscribe", channel=CHANNEL, user=LEAD)["response_type"] == "in_channel"
    posted = cli("schedule", "run-due", "--now", monday.isoformat()).stdout
    assert "posted" in posted, posted
    (post,) = module_slack.channel_messages(CHANNEL)
    for i, person in enumerate(PEOPLE):
        ts = f"{time.time():.6f}"
        event = {"type": "message", "channel": CHANNEL, "user": person, "text": f"Private thought number {i} about it",
                 "ts": ts, "thread_ts": post["ts"], "event_ts": ts, "channel_type": "channel"}  # fmt: skip
        assert bot.event(event, team=TEAM, event_id=f"EvL{i}{ts.replace('.', '')}").status == 200

    # They opt in from the team channel; nothing is sent outside working hours.
    for person in PEOPLE:
        msg = bot.command("quiz on", channel=CHANNEL, user=person).json()
        assert msg["response_type"] == "ephemeral" and "You're in" in msg["text"] and "never more than one a day" in msg["text"]
    assert "quiz U0" not in cli("schedule", "run-due", "--now", tuesday.replace(hour=8).isoformat()).stdout
    assert all(not dm_checks(module_slack, p) for p in PEOPLE)

    # Tuesday 11:00: each gets one check by DM (the team gets the same one); a second run sends nothing more.
    out = cli("schedule", "run-due", "--now", tuesday.isoformat()).stdout
    assert all(f"quiz {p}: sent check=" in out for p in PEOPLE) and out.count(": sent check=") == 3, out
    cli("schedule", "run-due", "--now", (tuesday + timedelta(hours=3)).isoformat())
    first = {p: dm_checks(module_slack, p) for p in PEOPLE}
    assert all(len(msgs) == 1 for msgs in first.values())
    check_id = check_of(first[PEOPLE[0]][0])
    assert {check_of(m[0]) for m in first.values()} == {check_id}
    check = corpus.check(check_id)
    assert check.question in dumps(first[PEOPLE[0]][0]["blocks"])
    assert_valid_message(first[PEOPLE[0]][0])

    # Two miss it, one knows it; the answer shows the explanation and the point.
    answered = tuesday + timedelta(minutes=5)
    ann = answer_click(bot, module_slack, "U0ANN", first["U0ANN"][0], option_index(corpus, check_id, False), answered)
    assert ann["replace_original"] in (True, "true")
    shown = dumps(ann["blocks"])
    assert "Not quite" in shown and check.explanation.split(".")[0] in shown
    assert_valid_message(ann)
    assert corpus.point(check.point).title in shown and "Read the point" in shown
    answer_click(bot, module_slack, "U0BEN", first["U0BEN"][0], option_index(corpus, check_id, False), answered)
    cat = answer_click(bot, module_slack, "U0CAT", first["U0CAT"][0], option_index(corpus, check_id, True), answered)
    assert "Right" in dumps(cat["blocks"])
    # Pressing again changes nothing: the first answer is kept.
    again = answer_click(bot, module_slack, "U0ANN", first["U0ANN"][0], option_index(corpus, check_id, True), answered)
    assert "already answered" in dumps(again["blocks"]) and "Not quite" in dumps(again["blocks"])

    # Wednesday: the missed check comes back; the known one does not (a new check instead).
    cli("schedule", "run-due", "--now", (tuesday + timedelta(days=1)).isoformat())
    assert check_of(dm_checks(module_slack, "U0ANN")[-1]) == check_id
    assert check_of(dm_checks(module_slack, "U0BEN")[-1]) == check_id
    assert check_of(dm_checks(module_slack, "U0CAT")[-1]) != check_id

    # Friday's summary in the thread: how many answered, which check was hard; no names, no answers.
    cli("schedule", "run-due", "--now", friday.isoformat())
    summary = dumps(module_slack.thread(CHANNEL, post["ts"])[-1]["blocks"])
    assert "3 reflections" in summary and "3 answered by 3 people" in summary
    assert check.question.replace("'", "") in summary.replace("'", "") and "(1 of 3 right)" in summary
    assert not any(p in summary for p in PEOPLE) and "Private thought" not in summary

    # A person's own history on App Home; their answers in their CPD export.
    n = len(module_slack.views)
    bot.event({"type": "app_home_opened", "user": "U0ANN", "tab": "home", "event_ts": "1"}, team=TEAM, event_id="EvLH")
    home = dumps(wait_for(lambda: module_slack.views[n] if len(module_slack.views) > n else None)["view"])
    assert "Your knowledge checks* (1 answered, 0 right)" in home
    files_before = len(module_slack.files)
    assert "sent your record" in command_answer(bot, module_slack, "export", channel=CHANNEL, user="U0ANN")["text"]
    export = [f for f in module_slack.files[files_before:] if str(f.get("comment", "")).startswith("Your reflective")]
    md = next(f["content"].decode() for f in module_slack.files[files_before:] if b"# Reflective practice" in f["content"])
    assert export and "## Knowledge checks" in md and check.question in md and "not right; the answer is" in md
    admin_csv = cli("reflections", "export", "--team", TEAM, "--user", "U0ANN", "--format", "csv").stdout
    assert "Knowledge check (self-assessment" in admin_csv and check.point in admin_csv

    # The learning lead's digest: readers are named for the workspace; the monthly DM brings a chart.
    # Named by a workspace admin: not by the channel's lead (readers are the workspace's), nor by anyone else.
    module_slack.users["U0WSADMIN"] = {"id": "U0WSADMIN", "name": "admin", "team_id": TEAM, "is_admin": True}
    for user in ("U0ANN", LEAD):
        refused = command_answer(bot, module_slack, "digest add <@U0NOPE|nope>", channel=CHANNEL, user=user)["text"]
        assert "Only workspace admins or the bot's admins" in refused
    added = command_answer(bot, module_slack, "digest add <@U0LL|learning.lead>", channel=CHANNEL, user="U0WSADMIN")
    assert "<@U0LL> will get this workspace's learning digest" in added["text"]
    preview = command_answer(bot, module_slack, "digest", channel=CHANNEL, user="U0LL")["text"]
    assert "Participation by month" in preview and "Private thought" not in preview
    files_before = len(module_slack.files)
    out = cli("schedule", "run-due", "--now", digest_day.isoformat()).stdout
    assert f"digest {CHANNEL} U0LL: sent" in out, out
    assert "digest" not in cli("schedule", "run-due", "--now", (digest_day + timedelta(hours=1)).isoformat()).stdout.replace(
        f"digest {CHANNEL} U0LL: already", "")  # once a month
    (chart,) = [f for f in module_slack.files[files_before:] if f.get("channel") == "DU0LL"]
    assert chart["content"].startswith(b"\x89PNG\r\n\x1a\n")
    comment = chart["comment"]
    assert f"Learning digest for <#{CHANNEL}>" in comment and "Recurring themes from the reviews not covered yet" in comment
    assert "Private thought" not in comment and not any(p in comment for p in PEOPLE)

    # The partnership's audit report: counts, themes, dates; never anyone's words.
    since = (now - timedelta(days=40)).date().isoformat()
    md = cli("reflections", "report", "--team", TEAM, "--since", since, "--format", "md").stdout
    point = corpus.point(json.loads(r.get(keys.channel_week(Workspace(TEAM), CHANNEL)))["point"])
    assert f"## Channel {CHANNEL}" in md and point.id in md and "| 3 | 3 |" in md
    assert "Private thought" not in md and not any(p in md for p in PEOPLE)
    csv_text = cli("reflections", "report", "--team", TEAM, "--since", since, "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("team,channel,week,date_posted,point_id")
    assert f"{TEAM},{CHANNEL}," in csv_text and ",3,3" in csv_text


def test_with_redis_down_quiz_digest_and_answers_say_so_and_nothing_crashes(bot_without_redis: BotProcess,
                                                                            module_slack: LocalSlack,
                                                                            corpus: Corpus) -> None:
    for text in ("quiz on", "quiz off", "quiz", "digest", "digest add <@U0LL|lead>"):
        msg = command_answer(bot_without_redis, module_slack, text, channel=CHANNEL, user=LEAD)
        assert "can't reach my storage" in msg["text"], (text, msg)
    check = corpus.checks[0]
    message = {"channel": "DU0ANN", "ts": "1.000001", "type": "message",
               "blocks": [{"type": "actions", "elements": [
                   {"type": "button", "action_id": f"scr_quiz_answer_{i}", "value": json.dumps({"c": check.id, "d": "2026-11-24", "o": i})}
                   for i in range(len(check.options))]}]}  # fmt: skip
    reply = answer_click(bot_without_redis, module_slack, "U0ANN", message, 0, datetime.now(LONDON))
    assert "your answer wasn't saved" in reply["text"] and reply.get("replace_original") in (False, "false", None)
    assert "Traceback" not in bot_without_redis.log()
