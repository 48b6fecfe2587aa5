"""The safety net for reflections that are not plain thread replies, end to end: the Reflect form and
edited thread replies. Signed Slack requests into the running bot, real Redis, the local Slack.

A reflection that reads as a live, identifiable case ("she told me today…") is never posted in the thread
or counted in its weekly summary, whatever sharing the person chose; its author is told privately why and
where to take it (with the workspace's contact line). A reply edited into a live concern stops counting;
one edited back out of it stays private (the note invites removing details, and a redacted account of a
live case may no longer read as one).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from test_http_reflections import MONDAY, T1, open_modal, reply, store_for, submission, weekly_post

from blockkit import dumps
from bot.content.corpus import Corpus
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from bot.weekly.summary import SummaryPoster
from conftest import BotProcess, RedisServer, bot_env, free_port, start_bot, stop_bot, wait_for
from fakeslack import FakeSlack

SLACK_TEAM = T1  # the single-token install is T1's (conftest's Slack fixtures), the team its requests name
FORM = "application/x-www-form-urlencoded"
# The workspace's contact line, with characters Slack would read as markup: it must be shown escaped.
CONTACT = "Sam Patel (DSL) on 0161 555 0100 <ext 12> & out of hours 0300 555 0199"
LIVE = "A pupil told me today that her stepdad hits her and she is scared to go home"
ORDINARY = "The review made me think about how we record who lives in the home"


@pytest.fixture(scope="module")
def bot(module_slack: FakeSlack, redis_server: RedisServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """The real bot, as in conftest's ``bot``, with a contact line set for the safety note."""
    tmp = tmp_path_factory.mktemp("reflectsafety")
    env = bot_env(module_slack, redis_server.url, tmp, SCR_CONCERN_CONTACT=CONTACT)
    proc = start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def summary_text(slack: FakeSlack, r: redis.Redis, corpus: Corpus, schedule: Schedule, thread: str) -> str:
    """Post the week's summary in the thread (as the clock would on Friday) and return what it says."""
    poster = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus)
    friday = MONDAY.replace(hour=16, minute=0) + timedelta(days=4)
    assert SummaryPoster(poster, store_for(r), corpus).deliver(schedule, friday).outcome == "posted"
    (summary,) = [m for m in slack.thread(schedule.channel, thread)
                  if (m.get("metadata") or {}).get("event_type") == "scr_weekly_summary"]  # fmt: skip
    return dumps(summary)


def shared_posts(slack: FakeSlack, channel: str, thread: str) -> list[dict]:
    return [m for m in slack.thread(channel, thread) if "Reflection shared by" in dumps(m)]


def edit(bot: BotProcess, channel: str, thread: str, ts: str, text: str, *, user: str, after: float,
         event_id: str) -> str:  # fmt: skip
    """Send Slack's ``message_changed`` for an edit of reply ``ts``, made ``after`` seconds after it; its edit ts."""
    edit_ts = f"{float(ts) + after:.6f}"
    changed = {"type": "message", "subtype": "message_changed", "channel": channel, "hidden": True, "ts": edit_ts,
               "event_ts": edit_ts,
               "message": {"type": "message", "user": user, "text": text, "ts": ts, "thread_ts": thread,
                           "edited": {"user": user, "ts": edit_ts}},
               "previous_message": {"type": "message", "user": user, "ts": ts, "thread_ts": thread}}  # fmt: skip
    assert bot.event(changed, team=T1, event_id=event_id).status == 200
    return edit_ts


def notes_to(slack: FakeSlack, user: str, since: int) -> list:
    return [c for c in slack.ok_calls("chat.postEphemeral")[since:] if c.params["user"] == user]


# ----- the Reflect form ------------------------------------------------------------------------------
def test_a_live_case_in_the_reflect_form_is_kept_private_even_when_sharing_was_chosen(
        bot: BotProcess, module_slack: FakeSlack, shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    r = shared_redis
    schedule, thread, point = weekly_post(module_slack, r, corpus, channel="C0FORMLIVE")
    view = open_modal(bot, module_slack, value=point, channel="C0FORMLIVE", message_ts=thread, user="U0LIVE")
    assert "Share in the thread" in dumps(view)
    views_before = len(module_slack.views)
    body = submission(view, {"stood_out": "Safer sleep came up", "practice": LIVE, "action": "Ask more"},
                      user="U0LIVE", view_id="V0FORMLIVE", visibility="thread")  # fmt: skip
    resp = bot.post(body, FORM)
    assert resp.status == 200
    answer = resp.json()
    assert answer["response_action"] == "update"
    text = dumps(answer["view"])
    assert "current concern about a child" in text and "999" in text and "designated" in text
    assert "safeguarding lead" in text
    assert "Who to contact here: Sam Patel (DSL) on 0161 555 0100 &lt;ext 12&gt; &amp; out of hours" in text
    assert "Sharing it in the thread" not in text
    (saved,) = store_for(r).for_user(Workspace(T1), "U0LIVE")
    assert saved.visibility == "private" and not saved.shared
    time.sleep(1.0)  # anything posted, or any later form update, after the ack would show by now
    assert shared_posts(module_slack, "C0FORMLIVE", thread) == []
    assert not [m for m in module_slack.thread("C0FORMLIVE", thread) if "stepdad" in dumps(m)]
    later = [v for v in module_slack.views[views_before:] if v.get("view_id") == "V0FORMLIVE"]
    assert later == [] or all("shared in the thread" not in dumps(v["view"]) for v in later)
    assert store_for(r).get(Workspace(T1), saved.id).visibility == "private"
    summary = summary_text(module_slack, r, corpus, schedule, thread)
    assert "had no reflections" in summary and "stepdad" not in summary, summary


def test_an_ordinary_reflection_in_the_form_with_sharing_chosen_is_shared(
        bot: BotProcess, module_slack: FakeSlack, shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    r = shared_redis
    schedule, thread, point = weekly_post(module_slack, r, corpus, channel="C0FORMOK")
    view = open_modal(bot, module_slack, value=point, channel="C0FORMOK", message_ts=thread, user="U0OK")
    body = submission(view, {"stood_out": "Safer sleep came up", "practice": ORDINARY, "action": "Ask more"},
                      user="U0OK", view_id="V0FORMOK", visibility="thread")  # fmt: skip
    answer = bot.post(body, FORM).json()
    assert answer["response_action"] == "update"
    text = dumps(answer["view"])
    assert "Sharing it in the thread" in text and "current concern about a child" not in text
    (post,) = wait_for(lambda: shared_posts(module_slack, "C0FORMOK", thread))
    assert ORDINARY in dumps(post)
    (saved,) = store_for(r).for_user(Workspace(T1), "U0OK")
    assert saved.shared
    assert "1 reflection" in summary_text(module_slack, r, corpus, schedule, thread)


# ----- thread replies edited into, and out of, a live concern ------------------------------------------
def test_a_shared_reply_edited_into_a_live_case_stops_counting_and_its_author_is_told_once(
        bot: BotProcess, module_slack: FakeSlack, shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    r = shared_redis
    schedule, thread, _ = weekly_post(module_slack, r, corpus, channel="C0EDITLIVE")
    reply(bot, "C0EDITLIVE", thread, "Good point about recording who is in the home", user="U0OTHER")
    before = len(module_slack.ok_calls("chat.postEphemeral"))
    _, ts = reply(bot, "C0EDITLIVE", thread, ORDINARY, user="U0EDIT")
    ws = Workspace(T1)
    assert {x.user: x.shared for x in store_for(r).for_thread(ws, "C0EDITLIVE", thread)} == {"U0OTHER": True,
                                                                                               "U0EDIT": True}
    edit_ts = edit(bot, "C0EDITLIVE", thread, ts, LIVE, user="U0EDIT", after=30, event_id="EvEditLive")
    saved = {x.user: x for x in store_for(r).for_thread(ws, "C0EDITLIVE", thread)}
    assert not saved["U0EDIT"].shared and saved["U0OTHER"].shared
    notes = wait_for(lambda: notes_to(module_slack, "U0EDIT", before))
    assert notes[0].params["thread_ts"] == thread and notes[0].params["channel"] == "C0EDITLIVE"
    assert "current concern about a child" in notes[0].params["text"] and "999" in notes[0].params["text"]
    assert "&lt;ext 12&gt; &amp;" in notes[0].params["text"]
    # Slack retries the edit's event, and an unfurl re-sends the edited message (same edit ts): one note.
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    changed = {"type": "message", "subtype": "message_changed", "channel": "C0EDITLIVE", "hidden": True,
               "ts": f"{float(edit_ts) + 5:.6f}", "event_ts": f"{float(edit_ts) + 5:.6f}",
               "message": {"type": "message", "user": "U0EDIT", "text": LIVE, "ts": ts, "thread_ts": thread,
                           "edited": {"user": "U0EDIT", "ts": edit_ts}}}  # fmt: skip
    assert bot.event(changed, team=T1, event_id="EvEditLive", headers=retry).status == 200
    assert bot.event(changed, team=T1, event_id="EvUnfurl").status == 200
    # A further edit that still reads as a live concern: still private, no second note.
    edit(bot, "C0EDITLIVE", thread, ts, LIVE + " (passed to our DSL)", user="U0EDIT", after=90, event_id="EvEditLive2")
    assert not {x.user: x for x in store_for(r).for_thread(ws, "C0EDITLIVE", thread)}["U0EDIT"].shared
    time.sleep(1.0)  # a second note, sent after the ack, would show by now
    assert len(notes_to(module_slack, "U0EDIT", before)) == 1
    assert notes_to(module_slack, "U0OTHER", before) == []
    summary = summary_text(module_slack, r, corpus, schedule, thread)
    assert "1 reflection" in summary and "1 person" in summary, summary
    assert "stepdad" not in summary


def test_a_live_case_edited_back_into_ordinary_words_stays_private(
        bot: BotProcess, module_slack: FakeSlack, shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    r = shared_redis
    schedule, thread, _ = weekly_post(module_slack, r, corpus, channel="C0EDITBACK")
    before = len(module_slack.ok_calls("chat.postEphemeral"))
    _, ts = reply(bot, "C0EDITBACK", thread, LIVE, user="U0BACK")
    ws = Workspace(T1)
    (saved,) = store_for(r).for_thread(ws, "C0EDITBACK", thread)
    assert not saved.shared
    assert len(wait_for(lambda: notes_to(module_slack, "U0BACK", before))) == 1
    # Slack re-sends the unedited reply as a message_changed (an unfurl: no "edited", a later event ts).
    later = f"{float(ts) + 2:.6f}"
    unfurl = {"type": "message", "subtype": "message_changed", "channel": "C0EDITBACK", "hidden": True, "ts": later,
              "event_ts": later, "message": {"type": "message", "user": "U0BACK", "text": LIVE, "ts": ts,
                                             "thread_ts": thread}}  # fmt: skip
    assert bot.event(unfurl, team=T1, event_id="EvUnfurlBack").status == 200
    # The note asks them to take details out of Slack; the edited reply (however it now reads) stays private.
    edit(bot, "C0EDITBACK", thread, ts, "A pupil told me something and I have passed it on", user="U0BACK",
         after=30, event_id="EvEditBack1")  # fmt: skip
    edit(bot, "C0EDITBACK", thread, ts, ORDINARY, user="U0BACK", after=60, event_id="EvEditBack2")
    (saved,) = store_for(r).for_thread(ws, "C0EDITBACK", thread)
    assert saved.text == ORDINARY and not saved.shared
    assert "1 post, 0 reflections shared" in dumps(bot.command("reflections", channel="C0EDITBACK", team=T1).json())
    summary = summary_text(module_slack, r, corpus, schedule, thread)
    assert "had no reflections" in summary and "stepdad" not in summary, summary
    time.sleep(0.5)
    assert len(notes_to(module_slack, "U0BACK", before)) == 1  # told once, not again for each edit
