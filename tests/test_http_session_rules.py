"""The rules an agreed action lives by, over signed HTTP into the bot as a process (issue 24 F10).

- A due date the action's record would not live to see (past the retention period, less the follow-up's
  own days) is refused in the form, nothing written: otherwise it expires, silently, before its follow-up.
- "In the past" is judged in the workspace's own time zone (`/scr settings timezone`), not the
  environment's: a team in Kiritimati (UTC+14) is always a day ahead of SCR_TIMEZONE=Pacific/Pago_Pago
  (UTC-11), so the environment's today is always yesterday there, whatever the hour the test runs.
- An owner who can never get a DM (Slack answers `account_inactive`) is not retried hourly for ever: the
  action is marked undeliverable (shown so in `/scr actions`), and the facilitator is told exactly once.
- After `/scr forget me`, a facilitator's sessions stay (and others' actions with them) but no longer name
  them, and the three-month questions are not sent to them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_http_session_faults import open_form, run_session
from test_http_sessions import (
    LONDON,
    OwnRedis,
    action_state,
    block_action,
    dms,
    run_due,
    submit,
    updates,
    weekday_on_or_after,
)

from blockkit import dumps
from conftest import (
    BotProcess,
    bot_env,
    command_answer,
    free_port,
    start_bot,
    stop_bot,
    stored_action,
    wait_for,
)
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
CHANNEL, LEAD, OWNER, ADMIN = "C0TEAM", "U0LEAD", "U0ANN", "U0ADMIN"
BEHIND, AHEAD = ZoneInfo("Pacific/Pago_Pago"), ZoneInfo("Pacific/Kiritimati")  # UTC-11 and UTC+14: 25 hours apart


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path).start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


@pytest.fixture
def env(slack: FakeSlack, own_redis: OwnRedis, tmp_path: Path) -> dict[str, str]:
    return bot_env(slack, own_redis.url, tmp_path, SCR_RETENTION_DAYS="60")


@pytest.fixture
def bot(env: dict[str, str], tmp_path: Path) -> Iterator[BotProcess]:
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    yield proc
    stop_bot(proc)


@pytest.fixture
def bot_behind(env: dict[str, str], tmp_path: Path) -> Iterator[BotProcess]:
    """The bot with SCR_TIMEZONE a day behind the workspace's own zone (set in the test)."""
    proc = start_bot(["run", "--no-scheduler"], {**env, "SCR_TIMEZONE": BEHIND.key}, tmp_path / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def members(slack: FakeSlack) -> None:
    slack.members[CHANNEL] = {LEAD, OWNER, "U0BEN", "U0BOT", "U0LOCALBOT"}
    slack.users[ADMIN] = {"id": ADMIN, "name": "admin", "team_id": "T0AAA", "is_admin": True, "tz": "Europe/London"}


def agree(bot: BotProcess, slack: FakeSlack, form: dict[str, Any], view_id: str, what: str, owner: str,
          due: str) -> dict[str, Any]:  # fmt: skip
    """Submit the form; an accepted one is waited for until the bot says it is agreed."""
    answer = submit(bot, form["view"], view_id, action_state(what, owner, due))
    if answer.get("response_action") == "update":
        wait_for(lambda: [v for v in updates(slack, view_id) if "Agreed." in dumps(v)], timeout=15)
    return answer


def test_a_due_date_past_retention_or_past_in_the_workspaces_zone_is_refused(
        bot_behind: BotProcess, slack: FakeSlack, own_redis: OwnRedis) -> None:  # fmt: skip
    bot, r = bot_behind, own_redis.client()
    members(slack)
    post, controls = run_session(bot, slack)
    form = open_form(bot, slack, post, controls)

    # SCR_RETENTION_DAYS=60: a due date 59 days on would expire before its follow-up, reminder and overdue mark.
    today = datetime.now(BEHIND).date()
    answer = submit(bot, form["view"], "V0FAR", action_state("Audit the visit notes", OWNER, (today + timedelta(days=59)).isoformat()))
    assert answer["response_action"] == "errors", answer
    assert "Choose a date within the next 46 days" in answer["errors"]["due"] and "kept for 60 days" in answer["errors"]["due"]
    assert not list(r.scan_iter("scr:*:action:*"))
    assert agree(bot, slack, form, "V0NEAR", "Audit the visit notes", OWNER,
                 (today + timedelta(days=40)).isoformat()).get("response_action") == "update"  # fmt: skip

    # The workspace keeps its own zone, a day ahead of the environment's (SCR_TIMEZONE, Pago Pago here).
    assert "Pacific/Kiritimati" in dumps(command_answer(bot, slack, "settings timezone Pacific/Kiritimati", channel=CHANNEL, user=ADMIN))
    form = open_form(bot, slack, post, controls)
    yesterday_there = datetime.now(BEHIND).date()  # today where SCR_TIMEZONE is: already yesterday in Kiritimati
    assert yesterday_there < datetime.now(AHEAD).date()
    answer = submit(bot, form["view"], "V0LATE", action_state("Ring the school", OWNER, yesterday_there.isoformat()))
    assert answer["response_action"] == "errors", answer
    assert "in the past" in answer["errors"]["due"]
    assert not list(r.scan_iter("scr:*:action:V0LATE"))
    assert agree(bot, slack, form, "V0TODAY", "Ring the school", OWNER,
                 datetime.now(AHEAD).date().isoformat()).get("response_action") == "update"  # fmt: skip


def test_an_owner_who_can_never_get_a_dm_marks_the_action_undeliverable_and_the_facilitator_is_told_once(
        bot: BotProcess, slack: FakeSlack, own_redis: OwnRedis, env: dict[str, str]) -> None:  # fmt: skip
    r = own_redis.client()
    members(slack)
    post, controls = run_session(bot, slack)
    form = open_form(bot, slack, post, controls)
    due = weekday_on_or_after(datetime.now(LONDON).date() + timedelta(days=14))
    agree(bot, slack, form, "V0GONE", "Check the <referral> form", OWNER, due.isoformat())

    # The owner's account is deactivated: Slack refuses every DM to them, for good.
    slack.channel_errors["D" + OWNER] = "account_inactive"
    at = datetime.combine(due, datetime.min.time(), LONDON).replace(hour=10)
    out = run_due(env, at)
    assert "follow-up undeliverable V0GONE: marked" in out, out
    assert "follow-up undeliverable-told V0GONE: sent" in out, out
    for later in (at + timedelta(hours=2), at + timedelta(days=1), at + timedelta(days=8)):
        out = run_due(env, later)
        assert "V0GONE" not in out, out  # never retried, never told again, never "overdue"
    told = [m for m in dms(slack, LEAD, "scr_followup") if "can't get messages" in dumps(m)]
    assert len(told) == 1, dms(slack, LEAD, "scr_followup")
    assert "&lt;referral&gt;" in dumps(told[0]) and "account_inactive" in dumps(told[0])
    stored = stored_action(r, "V0GONE")
    assert stored["status"] == "undeliverable"
    assert not any(r.zscore(k, "V0GONE") is not None for k in r.scan_iter("scr:*:actions-due*"))

    # The team's list says so.
    listed = dumps(command_answer(bot, slack, "actions", channel=CHANNEL, user=LEAD))
    assert "undeliverable" in listed and "Check the &lt;referral&gt; form" in listed


def test_a_forgotten_facilitator_is_no_longer_named_nor_sent_the_three_month_questions(
        bot: BotProcess, slack: FakeSlack, own_redis: OwnRedis, env: dict[str, str]) -> None:  # fmt: skip
    r = own_redis.client()
    members(slack)
    post, controls = run_session(bot, slack)
    form = open_form(bot, slack, post, controls)
    today = datetime.now(LONDON).date()
    due = weekday_on_or_after(today + timedelta(days=14))
    agree(bot, slack, form, "V0KEEP", "Ask about fathers at every visit", OWNER, due.isoformat())

    # The facilitator asks to be forgotten (the button under `/scr forget me`, after its confirmation).
    forget = bot.command("forget me", channel=CHANNEL, user=LEAD).json()
    button = next(el for b in forget["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_forget")
    url = slack.response_url()
    assert bot.action("scr_forget", button.get("value", ""), channel=CHANNEL, user=LEAD, response_url=url).status == 200
    assert "record in this workspace is now empty" in wait_for(lambda: next((m for m in slack.responses if m.get("_url") == url), None), timeout=15)["text"]

    # The session and the others' actions stay; the facilitator is not named on them.
    listed = dumps(command_answer(bot, slack, "actions", channel=CHANNEL, user=ADMIN))
    assert "Ask about fathers at every visit" in listed and "a former member" in listed, listed
    assert LEAD not in listed
    stored = stored_action(r, "V0KEEP")
    assert stored["owner"] == OWNER and LEAD not in json.dumps(stored)
    refused = dumps(command_answer(bot, slack, "actions", channel=CHANNEL, user="U0BEN"))
    assert "a former member" in refused and LEAD not in refused

    # The old session post's buttons (their block_id) still carry the facilitator: the stored session decides.
    # An action agreed on it now names nobody as facilitator, and the form itself carries no facilitator.
    form = open_form(bot, slack, post, controls)
    assert LEAD not in form["view"]["private_metadata"]
    agree(bot, slack, form, "V0AFTER", "Audit the referrals", OWNER, due.isoformat())
    after = stored_action(r, "V0AFTER")
    assert after["owner"] == OWNER and after["facilitator"] == "" and LEAD not in json.dumps(after)
    # The forgotten facilitator can no longer tick people in; a workspace admin can.
    tick = next(el for el in controls["elements"] if el.get("action_id") == "scr_session_tick")
    url = slack.response_url()
    block_action(bot, {**tick, "block_id": controls["block_id"], "selected_users": ["U0BEN"]}, user=LEAD,
                 channel=CHANNEL, message_ts=post["ts"], response_url=url)  # fmt: skip
    said = wait_for(lambda: next((m for m in slack.responses if m.get("_url") == url), None), timeout=15)["text"]
    assert "Only a workspace admin can tick people in" in said, said
    url = slack.response_url()
    block_action(bot, {**tick, "block_id": controls["block_id"], "selected_users": ["U0BEN"]}, user=ADMIN,
                 channel=CHANNEL, message_ts=post["ts"], response_url=url)  # fmt: skip
    said = wait_for(lambda: next((m for m in slack.responses if m.get("_url") == url), None), timeout=15)["text"]
    assert "Recorded 1 person" in said, said

    # Three months on: nobody gets the questions (there is nobody to ask), and the forgotten facilitator least of all.
    later = datetime.combine(weekday_on_or_after(today + timedelta(days=95)), datetime.min.time(), LONDON).replace(hour=10)
    out = run_due(env, later)
    assert "questions" not in out, out
    assert not dms(slack, LEAD, "scr_session_questions")
