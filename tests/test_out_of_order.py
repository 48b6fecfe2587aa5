"""Deleted stays deleted and the newest version wins, whatever order Slack delivers events in.

Slack retries an event after a slow answer or a 5xx (up to 3 times, over about 5 minutes), so the
original message can arrive after its own edit or deletion, or after its author used "forget me".
Every event here is a signed request over HTTP to the running bot, delivered out of order on purpose.
"""

from __future__ import annotations

import time

import redis

from bot.content.corpus import Corpus
from bot.reflections.store import ReflectionStore, message_id
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage import keys
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from conftest import BotProcess, wait_for
from fakeslack import FakeSlack

TEAM = "T0AAA"
WS = Workspace(TEAM)
RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


def weekly_thread(slack: FakeSlack, r: redis.Redis, corpus: Corpus, channel: str) -> str:
    schedule = Schedule(id=f"s-{channel.lower()}", team=TEAM, channel=channel, sectors=("health",))
    result = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus).deliver(schedule, ignore_time=True)
    assert result.outcome == "posted"
    return result.ts


def original(channel: str, thread: str, ts: str, text: str, user: str = "U0NURSE") -> dict:
    return {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "thread_ts": thread,
            "event_ts": ts, "channel_type": "channel"}  # fmt: skip


def edit(channel: str, thread: str, ts: str, edit_ts: str, text: str, user: str = "U0NURSE") -> dict:
    return {"type": "message", "subtype": "message_changed", "channel": channel, "hidden": True, "ts": edit_ts,
            "event_ts": edit_ts, "channel_type": "channel",
            "message": {"type": "message", "user": user, "text": text, "ts": ts, "thread_ts": thread,
                        "edited": {"user": user, "ts": edit_ts}},
            "previous_message": {"type": "message", "user": user, "text": "(earlier)", "ts": ts, "thread_ts": thread}}  # fmt: skip


def deletion(channel: str, thread: str, ts: str, at: str, user: str = "U0NURSE") -> dict:
    return {"type": "message", "subtype": "message_deleted", "channel": channel, "hidden": True, "ts": at,
            "event_ts": at, "deleted_ts": ts, "channel_type": "channel",
            "previous_message": {"type": "message", "user": user, "text": "(gone)", "ts": ts, "thread_ts": thread}}  # fmt: skip


def stored(r: redis.Redis, channel: str, thread: str) -> dict[str, str]:
    return {x.message_ts: x.text for x in ReflectionStore(r, 365).for_thread(WS, channel, thread)}


def test_delete_before_the_original_stays_deleted(bot: BotProcess, module_slack: FakeSlack,
                                                  shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    thread = weekly_thread(module_slack, shared_redis, corpus, "C0ORDDEL")
    ts = f"{time.time():.6f}"
    later = f"{float(ts) + 20:.6f}"
    assert bot.event(deletion("C0ORDDEL", thread, ts, later), event_id="EvDel1").status == 200
    # The original's first delivery was slow; Slack's retry arrives after the deletion.
    assert bot.event(original("C0ORDDEL", thread, ts, "I wish I had not written this"), event_id="EvOrig1",
                     headers=RETRY).status == 200  # fmt: skip
    # ...and so does a late edit of it.
    assert bot.event(edit("C0ORDDEL", thread, ts, f"{float(ts) + 10:.6f}", "edited before deleting"),
                     event_id="EvEdit1", headers=RETRY).status == 200  # fmt: skip
    assert stored(shared_redis, "C0ORDDEL", thread) == {}
    # The tombstone outlives Slack's retries (3 over about 5 minutes), and is not kept for ever.
    ttl = shared_redis.ttl(keys.reflection_tombstone(WS, message_id("C0ORDDEL", ts)))
    assert 3600 <= ttl <= keys.TOMBSTONE_SECONDS
    # Deleted after being stored: also stays deleted when a retry of the original comes in.
    ts2 = f"{time.time():.6f}"
    assert bot.event(original("C0ORDDEL", thread, ts2, "second thoughts"), event_id="EvOrig2").status == 200
    assert stored(shared_redis, "C0ORDDEL", thread) == {ts2: "second thoughts"}
    assert bot.event(deletion("C0ORDDEL", thread, ts2, f"{float(ts2) + 5:.6f}"), event_id="EvDel2").status == 200
    assert bot.event(original("C0ORDDEL", thread, ts2, "second thoughts"), event_id="EvOrig2", headers=RETRY).status == 200
    assert stored(shared_redis, "C0ORDDEL", thread) == {}


def test_the_newest_version_wins_in_any_order(bot: BotProcess, module_slack: FakeSlack, shared_redis: redis.Redis,
                                              corpus: Corpus) -> None:  # fmt: skip
    thread = weekly_thread(module_slack, shared_redis, corpus, "C0ORDEDIT")
    ts = f"{time.time():.6f}"
    at = {n: f"{float(ts) + n:.6f}" for n in (10, 30, 60)}
    # The edit arrives before the message it edits.
    assert bot.event(edit("C0ORDEDIT", thread, ts, at[30], "second version"), event_id="EvE30").status == 200
    assert stored(shared_redis, "C0ORDEDIT", thread) == {ts: "second version"}
    assert bot.event(original("C0ORDEDIT", thread, ts, "first version"), event_id="EvO", headers=RETRY).status == 200
    assert stored(shared_redis, "C0ORDEDIT", thread) == {ts: "second version"}
    # An older edit delivered late loses to the newer one already stored...
    assert bot.event(edit("C0ORDEDIT", thread, ts, at[10], "an in-between version"), event_id="EvE10").status == 200
    assert stored(shared_redis, "C0ORDEDIT", thread) == {ts: "second version"}
    # ...and a newer edit wins.
    assert bot.event(edit("C0ORDEDIT", thread, ts, at[60], "final version"), event_id="EvE60").status == 200
    assert bot.event(edit("C0ORDEDIT", thread, ts, at[30], "second version"), event_id="EvE30", headers=RETRY).status == 200
    assert stored(shared_redis, "C0ORDEDIT", thread) == {ts: "final version"}
    (refl,) = ReflectionStore(shared_redis, 365).for_thread(WS, "C0ORDEDIT", thread)
    assert refl.user == "U0NURSE" and refl.created_at == float(ts)  # dated by the message, not the edit


def test_forget_me_then_late_retries_store_nothing(bot: BotProcess, module_slack: FakeSlack,
                                                   shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    thread = weekly_thread(module_slack, shared_redis, corpus, "C0ORDFGT")
    kept, refused = f"{time.time() - 60:.6f}", f"{time.time() - 30:.6f}"
    assert bot.event(original("C0ORDFGT", thread, kept, "stored first", user="U0GONE"), event_id="EvF1").status == 200
    # The second reply's delivery failed (a Redis blip: 5xx), so Slack will retry it later.
    assert stored(shared_redis, "C0ORDFGT", thread) == {kept: "stored first"}
    url = module_slack.response_url()
    assert bot.action("scr_forget", "all", user="U0GONE", response_url=url).status == 200
    wait_for(lambda: next((x for x in module_slack.responses if x.get("_url") == url), None))
    assert stored(shared_redis, "C0ORDFGT", thread) == {}
    # Slack's late retries of both messages, and of an edit, arrive after "forget me".
    for ts, text, event_id in ((kept, "stored first", "EvF1"), (refused, "never stored", "EvF2")):
        assert bot.event(original("C0ORDFGT", thread, ts, text, user="U0GONE"), event_id=event_id,
                         headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"}).status == 200  # fmt: skip
    assert bot.event(edit("C0ORDFGT", thread, kept, f"{time.time() - 10:.6f}", "edited", user="U0GONE"),
                     event_id="EvF3").status == 200  # fmt: skip
    assert stored(shared_redis, "C0ORDFGT", thread) == {}
    # What they write after "forget me" is a new record.
    after = f"{time.time() + 1:.6f}"
    assert bot.event(original("C0ORDFGT", thread, after, "a fresh start", user="U0GONE"), event_id="EvF4").status == 200
    assert stored(shared_redis, "C0ORDFGT", thread) == {after: "a fresh start"}
