"""Evidence without exposure (issue 24 item 5), over signed HTTP into the real bot process.

The CPD export (`/scr export`) carries the team briefings a person attended and the actions they own, with
their follow-up answers: theirs only, from their workspace only (read from the file uploaded to the fake
Slack). A team's action list (`/scr actions`) names people, so only the session's facilitator and the
workspace's admins (Slack's, or the bot's own list) see it; anyone else is refused with who can, and
another workspace's list is never shown.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import test_http_sessions as hs

from conftest import (
    BotProcess,
    RedisServer,
    bot_env,
    command_answer,
    free_port,
    start_bot,
    stop_bot,
    wait_for,
)
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
CHANNEL, LEAD, ANN, BEN = "C0TEAM", "U0LEAD", "U0ANN", "U0BEN"


@pytest.fixture
def env(slack: FakeSlack, redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path) -> dict[str, str]:
    return bot_env(slack, redis_server.url, tmp_path)


def run_session(bot: BotProcess, slack: FakeSlack, team: str = "T0AAA") -> dict[str, Any]:
    """`/scr briefing neglect`, then Run in channel, as the lead: the session post."""
    before = len(slack.channel_messages(CHANNEL))
    preview = bot.command("briefing neglect", channel=CHANNEL, user=LEAD, team=team).json()
    run = next(el for b in preview["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_briefing_run")
    assert bot.action("scr_briefing_run", run["value"], channel=CHANNEL, user=LEAD, team=team,
                      response_url=slack.response_url()).status == 200  # fmt: skip
    return wait_for(lambda: slack.channel_messages(CHANNEL)[before:], timeout=10)[0]


def controls(post: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    block = next(b for b in post["blocks"] if b.get("block_id", "").startswith("scr_session:"))
    attend, agree, _tick = block["elements"]
    return attend, agree, block["block_id"]


def attend(bot: BotProcess, slack: FakeSlack, post: dict[str, Any], user: str) -> None:
    button, _, block = controls(post)
    url = slack.response_url()
    assert hs.block_action(bot, {**button, "block_id": block}, user=user, channel=CHANNEL, message_ts=post["ts"],
                           response_url=url) == 200  # fmt: skip
    assert "Recorded" in hs.reply(slack, url)["text"]


def agree(bot: BotProcess, slack: FakeSlack, post: dict[str, Any], view_id: str, what: str, owner: str,
          due: date) -> None:  # fmt: skip
    _, button, block = controls(post)
    n = len(slack.views)
    hs.block_action(bot, {**button, "block_id": block}, user=LEAD, channel=CHANNEL, message_ts=post["ts"])
    form = wait_for(lambda: [v for v in slack.views[n:] if v["method"] == "views.open"], timeout=10)[0]
    assert hs.submit(bot, form["view"], view_id, hs.action_state(what, owner, due.isoformat()))["response_action"] == "update"
    wait_for(lambda: [m for m in slack.thread(CHANNEL, post["ts"]) if (m.get("metadata") or {}).get("event_type")
                      == "scr_agreed_action" and m["metadata"]["event_payload"]["key"] == view_id], timeout=10)  # fmt: skip


def raw_words(client: redis.Redis, words: tuple[str, ...]) -> list[str]:
    """Every key (name and value, of any type) in which one of ``words`` appears in clear, as a dump would show."""
    hits = []
    for name in client.scan_iter(count=1000):
        kind = client.type(name)
        if kind == "string":
            values = [client.get(name) or ""]
        elif kind == "list":
            values = client.lrange(name, 0, -1)
        elif kind == "set":
            values = list(client.smembers(name))
        elif kind == "zset":
            values = client.zrange(name, 0, -1)
        elif kind == "hash":
            values = [f"{k}={v}" for k, v in client.hgetall(name).items()]
        else:
            values = []
        text = (name + " " + " ".join(values)).lower()
        hits += [f"{word!r} in {name}" for word in words if word.lower() in text]
    return hits


def exported(slack: FakeSlack, user: str, since: int) -> dict[str, str]:
    """The files of the export the bot uploaded to ``user``'s DM after the first ``since`` uploads."""
    done = wait_for(lambda: [f for f in slack.files[since:] if f.get("channel") == "D" + user], timeout=15)
    return {slack.filenames[f["id"]]: f["content"].decode() for f in done}


def test_the_cpd_export_has_the_briefings_attended_and_the_actions_owned(
        session_bot: BotProcess, slack: FakeSlack, env: dict[str, str], redis_client: redis.Redis) -> None:  # fmt: skip
    bot = session_bot
    slack.members[CHANNEL] = {LEAD, ANN, BEN, "U0BOT", "U0LOCALBOT"}
    post = run_session(bot, slack)
    attend(bot, slack, post, ANN)
    today = datetime.now(hs.LONDON).date()
    due = hs.weekday_on_or_after(today + timedelta(days=14))
    agree(bot, slack, post, "V0ANN", "Ask about fathers | male carers at every visit", ANN, due)
    agree(bot, slack, post, "V0BEN", "Ben's own action: review the neglect toolkit", BEN, due)

    # The owner answers the follow-up on the due date (a real run-due process as the clock).
    at = datetime.combine(due, datetime.min.time(), hs.LONDON).replace(hour=10)
    assert "follow-up due V0ANN: sent" in hs.run_due(env, at)
    followup = hs.dms(slack, ANN, "scr_followup")[0]
    done = next(el for b in followup["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_followup_done")
    n = len(slack.views)
    hs.block_action(bot, done, user=ANN, channel="D" + ANN, message_ts=followup["ts"])
    form = wait_for(lambda: [v for v in slack.views[n:] if v["method"] == "views.open"], timeout=10)[0]
    state = {"change": {"value": {"type": "plain_text_input", "value": "Fathers are on the visit checklist now"}}}
    assert hs.submit(bot, form["view"], "V0FOLLOW", state, user=ANN)["response_action"] == "update"

    # Ann's export: the briefing she was at (date, title, its points' citations) and her action, with her answer.
    uploaded = len(slack.files)
    answer = command_answer(bot, slack, "export", channel=CHANNEL, user=ANN)
    assert "1 team briefing and 1 action" in answer["text"], answer
    files = exported(slack, ANN, uploaded)
    md = next(text for name, text in files.items() if name.endswith(".md"))
    csv_text = next(text for name, text in files.items() if name.endswith(".csv"))
    briefings = md[md.index("## Team briefings attended"):md.index("## Actions I own")]
    assert "7-minute briefing: Neglect" in briefings
    assert datetime.now().strftime("%Y-%m-%d") in briefings
    assert "Learning for the future: messages for the police from SCRs" in briefings  # a key point's full citation
    assert "Section “" in briefings
    actions = md[md.index("## Actions I own"):]
    assert "Ask about fathers / male carers at every visit" in actions  # a typed "|" cannot break the table
    assert due.isoformat() in actions and "| Done |" in actions and "Fathers are on the visit checklist now" in actions
    assert "Ben's own action" not in md and "Ben's own action" not in csv_text  # only hers
    assert "Team 7-minute briefing" in csv_text and "Fathers are on the visit checklist now" in csv_text

    # At rest, the actions' words and the owner's line are sealed: a raw scan of Redis finds none of them.
    found = raw_words(redis_client, ("male carers", "neglect toolkit", "visit checklist"))
    assert not found, found

    # One token, one workspace: a request whose body names another team (T0BBB) is still the token's
    # workspace's, so she gets her own record again and nothing is filed under T0BBB.
    other = command_answer(bot, slack, "export", channel=CHANNEL, user=ANN, team="T0BBB")
    assert "sent your record (1 team briefing and 1 action)" in other["text"], other
    assert [k for k in redis_client.scan_iter(count=1000) if "T0BBB" in k] == []


def test_a_teams_action_list_only_for_its_facilitator_and_admins(session_bot: BotProcess, slack: FakeSlack) -> None:
    bot = session_bot
    slack.members[CHANNEL] = {LEAD, ANN, BEN, "U0BOT", "U0LOCALBOT"}
    slack.users["U0BOSS"] = {"id": "U0BOSS", "name": "boss", "is_admin": True, "team_id": "T0AAA"}
    post = run_session(bot, slack)
    due = hs.weekday_on_or_after(datetime.now(hs.LONDON).date() + timedelta(days=10))
    agree(bot, slack, post, "V0ACT", "Check <the> neglect toolkit & tell the team", ANN, due)

    # Anyone else in the channel (here, the action's own owner) is refused, told who can; no names leak.
    refused = command_answer(bot, slack, "actions", channel=CHANNEL, user=BEN)
    assert "only the facilitator" in refused["text"] and "<@U0LEAD>" in refused["text"]
    assert "workspace admins" in refused["text"] and "neglect toolkit" not in json.dumps(refused)
    assert refused["response_type"] == "ephemeral"

    # The facilitator, and a workspace admin (Slack's users.info says so), see owners, due dates and status.
    for who in (LEAD, "U0BOSS"):
        shown = command_answer(bot, slack, "actions", channel=CHANNEL, user=who)
        text = json.dumps(shown)
        assert shown["response_type"] == "ephemeral", shown
        assert "Check &lt;the&gt; neglect toolkit &amp; tell the team" in text and "<@U0ANN>" in text, shown
        assert f"{due:%d %b %Y}" in text and "open" in text

    # One token, one workspace: a request naming another team (T0BBB) is the token's workspace's, where
    # U0BOSS is an admin, so it shows this channel's list (no second workspace's empty one).
    other = command_answer(bot, slack, "actions", channel=CHANNEL, user="U0BOSS", team="T0BBB")
    assert "Check &lt;the&gt; neglect toolkit &amp; tell the team" in json.dumps(other), other


def test_an_agreed_action_naming_a_child_is_masked_and_the_facilitator_told_what_was_removed(
        session_bot: BotProcess, slack: FakeSlack, env: dict[str, str], redis_client: redis.Redis) -> None:  # fmt: skip
    """An action is a team's words about its work, and can name a child or a family as a reflection can: the
    details a reflection would lose are masked before it is stored or posted, the form's confirmation says what
    was removed, and the masked words are what the thread, the owner's follow-up DM and ``/scr actions`` show.
    The owner's one line on what changed is masked the same way. Nothing of either is in Redis in clear."""
    bot = session_bot
    slack.members[CHANNEL] = {LEAD, ANN, "U0BOT", "U0LOCALBOT"}
    post = run_session(bot, slack)
    due = hs.weekday_on_or_after(datetime.now(hs.LONDON).date() + timedelta(days=14))
    agree(bot, slack, post, "V0KID", "Visit Kayden Morris at 12 Oak Road, SW1A 1AA about school", ANN, due)
    # The form's confirmation comes after the thread reply agree() waits for: wait for it, not whatever update is last.
    said = hs.dumps(wait_for(lambda: [u for u in hs.updates(slack, "V0KID") if "Agreed" in hs.dumps(u)])[-1])
    assert "Agreed" in said and "I removed a name, a street address, a postcode" in said, said
    thread = hs.dumps([m for m in slack.thread(CHANNEL, post["ts"]) if m.get("metadata")])
    assert "[name removed]" in thread and "Kayden" not in thread and "Oak Road" not in thread

    at = datetime.combine(due, datetime.min.time(), hs.LONDON).replace(hour=10)
    assert "follow-up due V0KID: sent" in hs.run_due(env, at)
    followup = hs.dms(slack, ANN, "scr_followup")[0]
    assert "[name removed]" in hs.dumps(followup) and "Kayden" not in hs.dumps(followup)
    done = next(el for b in followup["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_followup_done")
    n = len(slack.views)
    hs.block_action(bot, done, user=ANN, channel="D" + ANN, message_ts=followup["ts"])
    form = wait_for(lambda: [v for v in slack.views[n:] if v["method"] == "views.open"], timeout=10)[0]
    state = {"change": {"value": {"type": "plain_text_input", "value": "Kayden's school now rings 07700 900123 daily"}}}
    answer = hs.submit(bot, form["view"], "V0FOLLOW2", state, user=ANN)
    assert answer["response_action"] == "update" and "I removed a name, a phone number" in hs.dumps(answer), answer

    listed = hs.dumps(command_answer(bot, slack, "actions", channel=CHANNEL, user=LEAD))
    assert "Visit [name removed] at [address removed]" in listed and "Kayden" not in listed, listed
    found = raw_words(redis_client, ("Kayden", "Morris", "Oak Road", "SW1A", "07700", "about school", "rings"))
    assert not found, found


def test_session_and_action_dates_are_the_workspaces_days_not_the_servers(
        slack: FakeSlack, redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path) -> None:  # fmt: skip
    """The server runs in UTC; the workspace is a zone whose date differs from UTC's right now (Kiritimati,
    UTC+14, from 10:00 UTC; else Pago Pago, UTC-11). `/scr actions` and the CPD export give the session and the
    action the team's own date, not the server's."""
    zone = ZoneInfo("Pacific/Kiritimati" if datetime.now(UTC).hour >= 10 else "Pacific/Pago_Pago")
    env = bot_env(slack, redis_server.url, tmp_path, TZ="UTC", SCR_ADMINS=LEAD)
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        slack.members[CHANNEL] = {LEAD, ANN, "U0BOT", "U0LOCALBOT"}
        assert zone.key in json.dumps(command_answer(bot, slack, f"settings timezone {zone.key}", channel=CHANNEL, user=LEAD))
        post = run_session(bot, slack)
        attend(bot, slack, post, ANN)
        theirs = datetime.fromtimestamp(float(post["ts"]), zone).date()
        servers = datetime.fromtimestamp(float(post["ts"]), UTC).date()
        assert theirs != servers
        due = hs.weekday_on_or_after(theirs + timedelta(days=14))
        agree(bot, slack, post, "V0TZ", "Check the neglect toolkit", ANN, due)

        listed = json.dumps(command_answer(bot, slack, "actions", channel=CHANNEL, user=LEAD))
        assert f"{theirs:%a %d %b %Y}" in listed and f"{servers:%a %d %b %Y}" not in listed, listed

        uploaded = len(slack.files)
        command_answer(bot, slack, "export", channel=CHANNEL, user=ANN)
        files = exported(slack, ANN, uploaded)
        md = next(text for name, text in files.items() if name.endswith(".md"))
        csv_text = next(text for name, text in files.items() if name.endswith(".csv"))
        briefings = md[md.index("## Team briefings attended"):md.index("## Actions I own")]
        actions = md[md.index("## Actions I own"):]
        assert f"| {theirs.isoformat()} |" in briefings and servers.isoformat() not in briefings, briefings
        assert f"| {theirs.isoformat()} |" in actions and servers.isoformat() not in actions, actions
        assert servers.isoformat() not in csv_text and theirs.isoformat() in csv_text
    finally:
        stop_bot(bot)
