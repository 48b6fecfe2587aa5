"""The clock stops trying to finish a shared reflection it can never check (issue 21, item 7 follow-up).

When a web process died after the ack, the clock must look in the thread before posting (Slack may have posted
it). If Slack never lets it read the thread, posting could post twice and waiting is for ever: after
``UNDECIDED_SWEEPS`` sweeps that read nothing new, the reflection is kept private and the person told once, by
DM, that it may already be in the thread. Real Redis, the fake Slack over HTTP, the clock's own function.
"""

from __future__ import annotations

import time

import redis

from bot.handlers import views
from bot.reflections.store import MODAL, SHARED, Reflection, ReflectionStore
from bot.slack.app import make_client
from bot.storage import keys
from bot.storage.store import Workspace
from fakeslack import FakeSlack

WS = Workspace("T0GIVEUP")
CHANNEL = "C0GIVEUP"


def test_a_thread_that_can_never_be_read_gives_up_once_keeps_it_private_and_tells_the_person(
        slack: FakeSlack, shared_redis: redis.Redis) -> None:  # fmt: skip
    store = ReflectionStore(shared_redis, 365)
    parent = slack.post_as("U0BOT", CHANNEL, "the weekly post")["ts"]
    now = time.time()
    refl = Reflection(id="m-giveup", user="U0SHARER", point="p", kind=MODAL, visibility=SHARED, created_at=now,
                      updated_at=now, channel=CHANNEL, thread_ts=parent, stood_out="Words to share")  # fmt: skip
    assert store.add(WS, refl, share_pending=True)
    slack.fail("conversations.replies", status=500, retry_after=None, error="internal_error", times=1000)
    client = make_client("xoxb-test", slack.url, call_budget=1.0)

    outcomes = []
    for _ in range(10):
        outcomes += [o for rid, o in views.finish_pending_shares(store, lambda ws: client, 0.05, time.time())
                     if rid == refl.id]  # fmt: skip
        time.sleep(0.1)  # each sweep's claim (the grace period) runs out
    posts = [c.params for c in slack.ok_calls("chat.postMessage")]
    assert not [p for p in posts if p.get("thread_ts") == parent]  # never posted when it might be there
    dms = [p for p in posts if p.get("channel") == "U0SHARER"]
    assert len(dms) == 1 and "may already have been posted" in dms[0]["text"] and f"<#{CHANNEL}>" in dms[0]["text"], outcomes
    assert outcomes == ["unknown"] * (views.UNDECIDED_SWEEPS - 1) + ["gave_up"], outcomes  # bounded, then never again
    saved = store.get(WS, refl.id)
    assert saved is not None and saved.visibility == "private" and not saved.message_ts
    assert not shared_redis.zscore(keys.shares_pending(WS), refl.id)
