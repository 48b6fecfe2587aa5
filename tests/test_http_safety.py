"""The safety net end to end: signed Slack requests into the running bot, real Redis, the local Slack.

A disclosure-style `/scr` gets how to act now before any learning; a thread reply that reads as a live
case is kept private (not counted in the weekly summary) and its author is told why, privately.
"""

from __future__ import annotations

from datetime import timedelta

import redis
from test_http_reflections import MONDAY, T1, reply, store_for, weekly_post

from blockkit import assert_valid_message, dumps
from bot.content.corpus import Corpus
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.summary import SummaryPoster
from conftest import BotProcess, wait_for
from fakeslack import FakeSlack

SLACK_TEAM = T1  # the single-token install is T1's (conftest's Slack fixtures), the team its requests name
DISCLOSURE = "a pupil told me her stepdad hurts her what do I do"


def test_a_disclosure_lookup_gets_how_to_act_now_first(bot: BotProcess, corpus: Corpus) -> None:
    resp = bot.command(DISCLOSURE)
    assert resp.status == 200
    msg = resp.json()
    assert_valid_message(msg)
    assert msg["blocks"][0]["type"] == "header" and msg["blocks"][0]["text"]["text"] == corpus.safety.title
    text = dumps(msg)
    assert text.index("999") < text.index("result 1 of")
    assert corpus.safety.source.url in text
    assert "Parental mental health problems are not a risk in themselves" not in text
    # A topic lookup is unchanged.
    assert corpus.safety.title not in dumps(bot.command("neglect").json())


def test_a_live_case_reply_is_kept_out_of_the_summary_and_its_author_told(bot: BotProcess, module_slack: FakeSlack,
                                                                         shared_redis: redis.Redis, corpus: Corpus) -> None:
    r = shared_redis
    schedule, thread, point_id = weekly_post(module_slack, r, corpus, channel="C0SAFE")
    words = " ".join(corpus.by_id[point_id].questions[0].split()[:8])
    before = len(module_slack.ok_calls("chat.postEphemeral"))
    reply(bot, "C0SAFE", thread, f"On that question: {words}", user="U1")
    live_text = "Funny this came up, a pupil told me yesterday that her dad hits her and I'm not sure what happens next"
    reply(bot, "C0SAFE", thread, live_text, user="U2")
    saved = {x.user: x for x in store_for(r).for_thread(Workspace(T1), "C0SAFE", thread)}
    assert saved["U1"].shared and not saved["U2"].shared  # kept, privately, in its author's own record
    notes = wait_for(lambda: [c for c in module_slack.ok_calls("chat.postEphemeral")[before:] if c.params["user"] == "U2"])
    assert len(notes) == 1 and notes[0].params["thread_ts"] == thread
    assert "current concern about a child" in notes[0].params["text"] and "999" in notes[0].params["text"]
    assert not [c for c in module_slack.ok_calls("chat.postEphemeral")[before:] if c.params["user"] == "U1"]
    poster = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-test", module_slack.url), corpus), corpus)
    summaries = SummaryPoster(poster, store_for(r), corpus)
    friday = MONDAY.replace(hour=16, minute=0) + timedelta(days=4)
    assert summaries.deliver(schedule, friday).outcome == "posted"
    (summary,) = [m for m in module_slack.thread("C0SAFE", thread)
                  if (m.get("metadata") or {}).get("event_type") == "scr_weekly_summary"]  # fmt: skip
    text = dumps(summary)
    assert "1 reflection" in text and "1 person" in text, text
    assert "dad hits her" not in text
