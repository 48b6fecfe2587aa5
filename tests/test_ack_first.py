"""Ack first: Slack gets its answer within 3 s even when the Web API is slow or rate limited.

With ``process_before_response=True`` Bolt answers Slack only when the ack function returns, so any
Web API call made before that (or a 429's Retry-After slept there) holds the answer. Here the fake
Slack delays or 429s exactly the calls each feature makes after the ack; the bot must still answer in
time, and the work must still complete afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from test_http_reflections import settled, submission

from blockkit import dumps
from bot.content.corpus import Corpus
from bot.reflections.store import ReflectionStore
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule, Subscriptions
from conftest import BotProcess, HttpResponse, wait_for
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
# Slack waits 3 s for an ack; the tests hold the bot to a stricter 1.5 s, so a Web API call only SLOW
# seconds long (longer than that budget) already shows it was made before the ack, without every test
# waiting out a slower one.
ACK_BUDGET = 1.5
SLOW = 2.0
TEAM = "T0AAA"


@pytest.fixture(autouse=True)
def healthy_slack_afterwards(module_slack: FakeSlack) -> Iterator[None]:
    yield
    module_slack.delay.clear()
    module_slack.faults.clear()


def timed(call: Any) -> tuple[HttpResponse, float]:
    started = time.monotonic()
    resp = call()
    return resp, time.monotonic() - started


def response_at(slack: FakeSlack, url: str, timeout: float = 15) -> dict:
    return wait_for(lambda: next((r for r in slack.responses if r.get("_url") == url), None), timeout)


def weekly_post(slack: FakeSlack, r: redis.Redis, corpus: Corpus, channel: str) -> tuple[str, str]:
    schedule = Schedule(id=f"s-{channel.lower()}", team=TEAM, channel=channel, sectors=("health",))
    result = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus).deliver(schedule, ignore_time=True)
    assert result.outcome == "posted"
    return result.ts, result.point


@pytest.mark.parametrize("fault", ["slow", "429"])
def test_subscribe_acks_before_asking_slack_about_the_channel(bot: BotProcess, module_slack: FakeSlack,
                                                              shared_redis: redis.Redis, fault: str) -> None:  # fmt: skip
    channel = f"C0ACK{fault}"
    if fault == "slow":
        module_slack.delay["conversations.info"] = SLOW
    else:
        module_slack.fail("conversations.info", 429, retry_after=int(SLOW))
    url = module_slack.response_url()
    resp, took = timed(lambda: bot.command("subscribe health monday 09:30", channel=channel, user="U0LEAD",
                                           response_url=url))  # fmt: skip
    assert resp.status == 200 and took < ACK_BUDGET, f"ack took {took:.2f} s"
    answer = response_at(module_slack, url)
    assert answer["response_type"] == "in_channel" and "set up a weekly learning point" in answer["text"]
    assert Subscriptions(shared_redis).get(Workspace(TEAM), channel) is not None


def test_export_acks_before_the_dm_and_upload(bot: BotProcess, module_slack: FakeSlack, shared_redis: redis.Redis,
                                              corpus: Corpus) -> None:  # fmt: skip
    thread, _ = weekly_post(module_slack, shared_redis, corpus, "C0ACKEXP")
    ts = f"{time.time():.6f}"
    event = {"type": "message", "channel": "C0ACKEXP", "user": "U0EXP", "text": "Something to export", "ts": ts,
             "thread_ts": thread, "event_ts": ts, "channel_type": "channel"}  # fmt: skip
    assert bot.event(event, event_id="EvExp").status == 200
    module_slack.delay["conversations.open"] = SLOW
    module_slack.fail("files.getUploadURLExternal", 429, retry_after=2)
    files_before = len(module_slack.files)
    url = module_slack.response_url()
    resp, took = timed(lambda: bot.command("export", user="U0EXP", response_url=url))
    assert resp.status == 200 and took < ACK_BUDGET, f"ack took {took:.2f} s"
    assert "direct message" in response_at(module_slack, url)["text"]
    md = wait_for(lambda: module_slack.files[files_before:])[0]
    assert "Something to export" in md["content"].decode()


def test_reflect_form_acks_before_posting_in_the_thread(bot: BotProcess, module_slack: FakeSlack,
                                                        shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    thread, point = weekly_post(module_slack, shared_redis, corpus, "C0ACKREF")
    n = len(module_slack.views)
    module_slack.delay["views.open"] = SLOW
    resp, took = timed(lambda: bot.action("scr_reflect", point, channel="C0ACKREF", message_ts=thread))
    assert resp.status == 200 and took < ACK_BUDGET, f"Reflect button ack took {took:.2f} s"
    view = settled(module_slack, wait_for(lambda: module_slack.views[n:])[0])
    module_slack.delay.clear()

    module_slack.delay["chat.postMessage"] = SLOW
    body = submission({**view, "id": "V0ACK"}, {"stood_out": "Slow Slack, fast ack", "practice": "p", "action": "a"},
                      team=TEAM, user="U0REF", view_id="V0ACK", visibility="thread")  # fmt: skip
    resp, took = timed(lambda: bot.post(body, "application/x-www-form-urlencoded"))
    assert resp.status == 200 and took < ACK_BUDGET, f"submission ack took {took:.2f} s"
    assert resp.json()["response_action"] == "update" and "Saved to your record" in dumps(resp.json())
    posted = wait_for(lambda: [m for m in module_slack.thread("C0ACKREF", thread) if "<@U0REF>" in m["text"]], 15)
    assert len(posted) == 1 and "Slow Slack, fast ack" in dumps(posted[0])
    # The form's own update (once the thread is known) comes first; wait for the one made after the share.
    updated = wait_for(lambda: [v for v in module_slack.views[n:]
                                if v["method"] == "views.update" and "Saved to your record" in dumps(v["view"])])
    assert "shared in the thread" in dumps(updated[-1]["view"])
    saved = wait_for(lambda: [x for x in ReflectionStore(shared_redis, 365).for_user(Workspace(TEAM), "U0REF")
                              if x.message_ts])  # fmt: skip
    assert saved[0].message_ts == posted[0]["ts"]
    # The same form submitted again (Slack retry, double click): stored once, posted once.
    again = bot.post(body, "application/x-www-form-urlencoded")
    # Settled when the ack says so: saved (once), with no share after it (a share is announced in the ack).
    assert again.status == 200 and "Saved to your record" in dumps(again.json())
    assert "Sharing it in the thread" not in dumps(again.json())
    assert len([m for m in module_slack.thread("C0ACKREF", thread) if "<@U0REF>" in m["text"]]) == 1


def test_app_home_acks_before_reading_and_publishing(bot: BotProcess, module_slack: FakeSlack) -> None:
    module_slack.fail("users.conversations", 429, retry_after=2)
    module_slack.delay["views.publish"] = SLOW
    n = len(module_slack.views)
    home = {"type": "app_home_opened", "user": "U0HOMEACK", "channel": "D0HOME", "tab": "home", "event_ts": "1.1"}
    resp, took = timed(lambda: bot.event(home, event_id="EvHomeAck"))
    assert resp.status == 200 and took < ACK_BUDGET, f"ack took {took:.2f} s"
    published = wait_for(lambda: [v for v in module_slack.views[n:] if v["user_id"] == "U0HOMEACK"], 15)
    assert published[0]["method"] == "views.publish"


def test_share_and_masking_note_ack_before_their_web_api_calls(bot: BotProcess, module_slack: FakeSlack,
                                                               shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    module_slack.fail("chat.postMessage", 429, retry_after=int(SLOW), channel="C0ACKSHR")
    answer = bot.command("co-sleeping", channel="C0ACKSHR").json()
    value = next(el["value"] for b in answer["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_share")
    resp, took = timed(lambda: bot.action("scr_share", value, channel="C0ACKSHR", response_url=module_slack.response_url()))
    assert resp.status == 200 and took < ACK_BUDGET, f"share ack took {took:.2f} s"
    wait_for(lambda: module_slack.channel_messages("C0ACKSHR"), 15)

    thread, _ = weekly_post(module_slack, shared_redis, corpus, "C0ACKMASK")
    module_slack.delay["chat.postEphemeral"] = SLOW
    before = len(module_slack.ok_calls("chat.postEphemeral"))
    ts = f"{time.time():.6f}"
    event = {"type": "message", "channel": "C0ACKMASK", "user": "U0MASK", "text": "Like Mrs Jones at NR4 7TJ",
             "ts": ts, "thread_ts": thread, "event_ts": ts, "channel_type": "channel"}  # fmt: skip
    resp, took = timed(lambda: bot.event(event, event_id="EvMaskAck"))
    assert resp.status == 200 and took < ACK_BUDGET, f"event ack took {took:.2f} s"
    wait_for(lambda: module_slack.ok_calls("chat.postEphemeral")[before:], 15)
