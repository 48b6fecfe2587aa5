"""A briefing session end to end, from `/scr briefing` to the three-month questions.

Signed HTTP into the real bot (`scr-bot run`), Slack's side on the local fake, a real Redis of this test's
own (so it can be stopped mid-session and started again, its append-only file keeping what was written),
and real `scr-bot schedule run-due --now …` processes as the clock. Faults injected: bad input (a due date
in the past, an owner who is not in the channel), Redis down while an action is agreed, and Slack losing
its answer to the follow-up DM.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from blockkit import assert_valid_message, dumps
from bot.storage.embedded_redis import find_redis_server
from conftest import ROOT, BotProcess, bot_env, free_port, stored_action, wait_for
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
LONDON = ZoneInfo("Europe/London")
CHANNEL, LEAD = "C0TEAM", "U0LEAD"


class OwnRedis:
    """A redis-server on a fixed port with an append-only file: stopped and started again, it keeps its data."""

    def __init__(self, directory: Path) -> None:
        self.dir, self.port = directory, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen([find_redis_server() or "redis-server", "--port", str(self.port), "--bind",
                                      "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                                      "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        client = self.client()
        wait_for(lambda: _pings(client), timeout=10)
        return self

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path).start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


@pytest.fixture
def env(slack: FakeSlack, own_redis: OwnRedis, tmp_path: Path) -> dict[str, str]:
    return bot_env(slack, own_redis.url, tmp_path)


# ----- Slack's payloads ----------------------------------------------------------------------
def block_action(bot: BotProcess, action: dict[str, Any], *, user: str, channel: str, message_ts: str,
                 response_url: str = "http://127.0.0.1:9/response") -> int:  # fmt: skip
    payload = {"type": "block_actions", "team": {"id": "T0AAA", "domain": "t"},
               "user": {"id": user, "username": "u", "team_id": "T0AAA"}, "api_app_id": "A0SCR",
               "container": {"type": "message", "channel_id": channel, "message_ts": message_ts, "is_ephemeral": False},
               "channel": {"id": channel, "name": "team"}, "trigger_id": f"trig.{time.time()}", "response_url": response_url,
               "actions": [{**action, "action_ts": str(time.time())}]}  # fmt: skip
    return bot.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded").status


def submit(bot: BotProcess, view: dict[str, Any], view_id: str, state: dict[str, Any], user: str = LEAD) -> dict[str, Any]:
    payload = {"type": "view_submission", "team": {"id": "T0AAA", "domain": "t"}, "user": {"id": user, "team_id": "T0AAA"},
               "api_app_id": "A0SCR", "trigger_id": "t.1",
               "view": {**view, "id": view_id, "team_id": "T0AAA", "state": {"values": state}, "hash": "h"}}  # fmt: skip
    resp = bot.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert resp.status == 200, resp.body
    return resp.json() if resp.body else {}


def action_state(what: str, owner: str, due: str) -> dict[str, Any]:
    return {"what": {"value": {"type": "plain_text_input", "value": what}},
            "owner": {"value": {"type": "users_select", "selected_user": owner}},
            "due": {"value": {"type": "datepicker", "selected_date": due}}}  # fmt: skip


def reply(slack: FakeSlack, url: str) -> dict[str, Any]:
    return wait_for(lambda: next((r for r in slack.responses if r.get("_url") == url), None), timeout=10)


def updates(slack: FakeSlack, view_id: str) -> list[dict[str, Any]]:
    return [v["view"] for v in slack.views if v["method"] == "views.update" and v["view_id"] == view_id]


def weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def run_due(env: dict[str, str], now: datetime) -> str:
    proc = warmstart.run([sys.executable, "-m", "bot", "schedule", "run-due", "--now", now.isoformat()], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    return proc.stdout + proc.stderr


def dms(slack: FakeSlack, user: str, kind: str) -> list[dict[str, Any]]:
    return [m for m in slack.channel_messages("D" + user) if (m.get("metadata") or {}).get("event_type") == kind]


def test_a_session_from_briefing_to_the_three_month_questions(session_bot: BotProcess, slack: FakeSlack,
                                                              own_redis: OwnRedis, env: dict[str, str]) -> None:  # fmt: skip
    bot, r = session_bot, own_redis.client()
    slack.members[CHANNEL] = {LEAD, "U0ANN", "U0BEN", "U0CAT", "U0BOT", "U0LOCALBOT"}

    # Run the briefing: the post carries the session's buttons.
    preview = bot.command("briefing neglect", channel=CHANNEL, user=LEAD).json()
    run = next(el for b in preview["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_briefing_run")
    assert bot.action("scr_briefing_run", run["value"], channel=CHANNEL, user=LEAD, response_url=slack.response_url()).status == 200
    post = wait_for(lambda: slack.channel_messages(CHANNEL), timeout=10)[0]
    assert_valid_message(post)
    controls = next(b for b in post["blocks"] if b.get("block_id", "").startswith("scr_session:"))
    attend, agree, tick = controls["elements"]
    block = controls["block_id"]

    # "I was there"; the facilitator ticks two more in; someone else cannot.
    url = slack.response_url()
    assert block_action(bot, {**attend, "block_id": block}, user="U0ANN", channel=CHANNEL, message_ts=post["ts"],
                        response_url=url) == 200  # fmt: skip
    assert "Recorded" in reply(slack, url)["text"]
    url = slack.response_url()
    block_action(bot, {**tick, "block_id": block, "selected_users": ["U0BEN", "U0CAT"]}, user=LEAD, channel=CHANNEL,
                 message_ts=post["ts"], response_url=url)  # fmt: skip
    assert "Recorded 2 people" in reply(slack, url)["text"]
    url = slack.response_url()
    block_action(bot, {**tick, "block_id": block, "selected_users": ["U0ZED"]}, user="U0BEN", channel=CHANNEL,
                 message_ts=post["ts"], response_url=url)  # fmt: skip
    assert "Only the facilitator" in reply(slack, url)["text"]
    attended_key = next(k for k in r.scan_iter("scr:*:session:*:attended"))
    assert r.smembers(attended_key) == {"U0ANN", "U0BEN", "U0CAT"}

    # "Agree an action" opens the form.
    n = len(slack.views)
    block_action(bot, {**agree, "block_id": block}, user=LEAD, channel=CHANNEL, message_ts=post["ts"])
    form = wait_for(lambda: slack.views[n:], timeout=10)[0]
    assert form["method"] == "views.open"
    today = datetime.now(LONDON).date()
    due = weekday_on_or_after(today + timedelta(days=14))
    what = "Ask about <fathers> & male carers at every visit"

    # Bad input: a past due date is refused inline; nothing is written.
    answer = submit(bot, form["view"], "V0ACT1", action_state(what, "U0ANN", (today - timedelta(days=1)).isoformat()))
    assert answer["response_action"] == "errors" and "in the past" in answer["errors"]["due"]
    # An owner who is not in the channel: the form comes back with the words kept; nothing is written.
    answer = submit(bot, form["view"], "V0ACT1", action_state(what, "U0OUT", due.isoformat()))
    assert answer["response_action"] == "update"
    back = wait_for(lambda: updates(slack, "V0ACT1"), timeout=10)[-1]
    assert "not in this channel" in dumps(back) and back["blocks"][1]["element"]["initial_value"] == what
    assert not list(r.scan_iter("scr:*:action:*"))
    # Slack fails while the owner's membership is checked: not "not in this channel" (they are), but "could not
    # confirm, try again"; the words are kept and nothing is written.
    slack.fail("users.conversations", status=500, retry_after=None, error="internal_error", times=10)
    seen = len(updates(slack, "V0ACT1"))
    assert submit(bot, form["view"], "V0ACT1", action_state(what, "U0ANN", due.isoformat()))["response_action"] == "update"
    back = wait_for(lambda: updates(slack, "V0ACT1")[seen:], timeout=15)[-1]
    assert "couldn't confirm" in dumps(back) and "not in this channel" not in dumps(back), dumps(back)
    assert back["blocks"][1]["element"]["initial_value"] == what
    assert not list(r.scan_iter("scr:*:action:*"))
    with slack.lock:  # Slack is well again
        slack.faults.pop("users.conversations", None)

    # Redis down mid-session: the form answers with an error and keeps the words; nothing agreed is lost.
    own_redis.stop()
    seen = len(updates(slack, "V0ACT1"))
    answer = submit(bot, form["view"], "V0ACT1", action_state(what, "U0ANN", due.isoformat()))
    assert answer.get("response_action") == "update"
    back = wait_for(lambda: updates(slack, "V0ACT1")[seen:], timeout=15)[-1]
    assert "storage is unavailable" in dumps(back) and back["blocks"][1]["element"]["initial_value"] == what
    assert back["blocks"][2]["element"]["initial_user"] == "U0ANN" and back["blocks"][3]["element"]["initial_date"] == due.isoformat()
    own_redis.start()
    r = own_redis.client()

    def agreed() -> list[dict[str, Any]]:
        return [m for m in slack.thread(CHANNEL, post["ts"]) if (m.get("metadata") or {}).get("event_type") == "scr_agreed_action"]

    deadline = time.monotonic() + 30
    while not agreed():  # the person presses Agree again until storage is back
        assert time.monotonic() < deadline, bot.log()[-3000:]
        submit(bot, back, "V0ACT1", action_state(what, "U0ANN", due.isoformat()))
        time.sleep(1.0)
    time.sleep(1.0)
    assert len(agreed()) == 1  # pressed more than once, agreed once
    assert "&lt;fathers&gt; &amp; male carers" in dumps(agreed()[0]) and "<@U0ANN>" in dumps(agreed()[0])
    assert r.smembers(attended_key) == {"U0ANN", "U0BEN", "U0CAT"}  # what was written before the outage is kept
    home = wait_for(lambda: [v for v in slack.views if v["method"] == "views.publish" and v["user_id"] == "U0ANN"], timeout=10)
    assert "Your actions from team briefings" in dumps(home[-1]["view"])

    # The clock on the due date: Slack loses its answer to the follow-up DM; exactly one reaches the owner.
    slack.accept_then("chat.postMessage", 500, channel="DU0ANN")
    at = datetime.combine(due, datetime.min.time(), LONDON).replace(hour=10)
    out = run_due(env, at)
    assert "follow-up due V0ACT1: recovered" in out, out
    assert "follow-up due V0ACT1: already" not in run_due(env, at + timedelta(minutes=5))
    assert len(dms(slack, "U0ANN", "scr_followup")) == 1

    # The owner answers: Partly, one line on what changed.
    followup = dms(slack, "U0ANN", "scr_followup")[0]
    partly = next(el for b in followup["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_followup_partly")
    n = len(slack.views)
    block_action(bot, partly, user="U0ANN", channel="DU0ANN", message_ts=followup["ts"])
    form = wait_for(lambda: slack.views[n:], timeout=10)[0]
    state = {"change": {"value": {"type": "plain_text_input", "value": "Fathers now on the visit checklist"}}}
    assert submit(bot, form["view"], "V0FOLLOW", state, user="U0ANN")["response_action"] == "update"
    stored = stored_action(r, "V0ACT1")
    assert stored["status"] == "partly" and stored["change"] == "Fathers now on the visit checklist"
    # Answered: no reminder, ever.
    assert "reminder" not in run_due(env, at + timedelta(days=7))
    assert len(dms(slack, "U0ANN", "scr_followup")) == 1

    # Three months on: the facilitator gets the three standing questions, once.
    later = datetime.combine(weekday_on_or_after(today + timedelta(days=95)), datetime.min.time(), LONDON).replace(hour=10)
    out = run_due(env, later)
    assert "follow-up questions" in out and ": sent" in out, out
    run_due(env, later + timedelta(days=1))
    questions = dms(slack, LEAD, "scr_session_questions")
    assert len(questions) == 1
    text = dumps(questions[0])
    assert "key thoughts" in text and "embed" in text and "team or service plan" in text
    assert "partly" in text
