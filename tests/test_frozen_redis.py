"""Redis frozen (SIGSTOP on the real redis-server): every Slack request is still answered within 2.5 s.

A frozen server accepts connections and never replies, the worst case for a client: each command
waits its whole timeout. The bot must answer lookups (which need no Redis) as usual, say "storage is
down" to commands that need it, answer events 5xx at once so Slack retries them, report 503 on
/readyz (and 200 on /healthz: alive all the same) within 1 s, and store the retried events once Redis is back.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.content.corpus import Corpus
from bot.reflections.store import ReflectionStore
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.store import Workspace
from bot.storage.store import make_client as redis_client_for
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from conftest import (
    BotProcess,
    HttpResponse,
    RedisServer,
    bot_env,
    free_port,
    http,
    start_bot,
    start_redis,
    stop_bot,
    wait_for,
)
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
BUDGET = 2.5  # seconds: Slack gives 3, and the network needs some


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, so freezing it disturbs no other test."""
    (tmp_path / "redis").mkdir()
    server = start_redis(tmp_path / "redis")
    yield server
    os.kill(server.process.pid, signal.SIGCONT)
    server.process.kill()
    server.process.wait(10)


@pytest.fixture
def frozen_bot(own_redis: RedisServer, slack: FakeSlack, tmp_path: Path) -> Iterator[BotProcess]:
    env = bot_env(slack, own_redis.url, tmp_path, SCR_REDIS_BREAKER_SECONDS="1")
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def reply_event(thread: str, ts: str, text: str) -> dict:
    return {"type": "message", "channel": "C0FROZEN", "user": "U0NURSE", "text": text, "ts": ts, "thread_ts": thread,
            "event_ts": ts, "channel_type": "channel"}  # fmt: skip


def timed(call: Callable[[], HttpResponse]) -> tuple[HttpResponse, float]:
    started = time.monotonic()
    resp = call()
    return resp, time.monotonic() - started


def test_twenty_requests_with_redis_frozen_are_answered_in_time(frozen_bot: BotProcess, own_redis: RedisServer,
                                                                slack: FakeSlack, corpus: Corpus) -> None:  # fmt: skip
    r = own_redis.client()
    schedule = Schedule(id="s-frozen", team="T0AAA", channel="C0FROZEN", sectors=("health",))
    thread = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus).deliver(schedule, ignore_time=True).ts
    # Warm up: the bot holds open connections to Redis, as it would in production.
    assert frozen_bot.event(reply_event(thread, "1800000000.000001", "warm up"), event_id="EvWarm").status == 200
    assert frozen_bot.command("reflections", channel="C0FROZEN").status == 200

    replies = [f"1800000001.{i:06d}" for i in range(6)]
    requests: list[tuple[str, Callable[[], HttpResponse]]] = []
    for _ in range(6):
        requests.append(("lookup", lambda: frozen_bot.command("neglect")))
    for ts in replies:
        requests.append(("event", lambda ts=ts: frozen_bot.event(reply_event(thread, ts, f"reflection {ts}"),
                                                                 event_id=f"Ev{ts}")))  # fmt: skip
    for _ in range(3):
        requests.append(("storage command", lambda: frozen_bot.command("reflections", channel="C0FROZEN")))
    for _ in range(2):
        requests.append(("storage command", lambda: frozen_bot.command("week", channel="C0FROZEN")))
    requests.append(("storage command", lambda: frozen_bot.command("schedule", channel="C0FROZEN")))
    for i in range(2):
        home = {"type": "app_home_opened", "user": f"U0HOME{i}", "tab": "home", "event_ts": "1.1"}
        requests.append(("home", lambda home=home, i=i: frozen_bot.event(home, event_id=f"EvHome{i}")))
    assert len(requests) == 20

    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(len(requests) + 1) as pool:
            ready = pool.submit(timed, lambda: http("GET", frozen_bot.url + "/readyz", timeout=10))
            health = pool.submit(timed, lambda: http("GET", frozen_bot.url + "/healthz", timeout=10))
            answers = list(pool.map(lambda kv: (kv[0], *timed(kv[1])), requests))
            ready_resp, ready_took = ready.result()
            health_resp, health_took = health.result()
        worst = max(took for _, _, took in answers)
        print(f"\nworst-case answer with Redis frozen: {worst:.3f} s over {len(answers)} requests; "
              f"/readyz {ready_took:.3f} s, /healthz {health_took:.3f} s")  # fmt: skip
        assert worst < BUDGET, [(kind, resp.status, round(took, 2)) for kind, resp, took in answers]
        assert ready_resp.status == 503 and ready_took < 1.0, (ready_resp.body, ready_took)
        assert ready_resp.json()["redis"]["ok"] is False
        assert health_resp.status == 200 and health_took < 1.0, (health_resp.body, health_took)
        for kind, resp, took in answers:
            if kind == "lookup":
                assert resp.status == 200 and resp.json()["blocks"], resp.body[:200]
                assert took < 1.0, f"a lookup (no Redis needed) took {took:.2f} s"
            elif kind == "event":
                assert resp.status >= 500  # not stored: Slack must retry it
            elif kind == "storage command":
                assert resp.status == 200 and "can't reach my storage" in resp.json()["text"]
            else:
                assert resp.status < 600
        # Still frozen, later: both keep answering fast, not ready but alive.
        again, took = timed(lambda: http("GET", frozen_bot.url + "/readyz", timeout=10))
        assert again.status == 503 and took < 1.0
        alive, took = timed(lambda: http("GET", frozen_bot.url + "/healthz", timeout=10))
        assert alive.status == 200 and took < 1.0
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)

    # Redis is back: Slack's retries of the refused events are stored, each once.
    deadline = time.monotonic() + 10
    while http("GET", frozen_bot.url + "/readyz").status != 200:
        assert time.monotonic() < deadline, "the bot did not notice Redis was back"
        time.sleep(0.2)
    for ts in replies:
        resp = frozen_bot.event(reply_event(thread, ts, f"reflection {ts}"), event_id=f"Ev{ts}",
                                headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})  # fmt: skip
        assert resp.status == 200
    stored = ReflectionStore(r, 365).for_thread(Workspace("T0AAA"), "C0FROZEN", thread)
    assert sorted(x.message_ts for x in stored) == sorted(["1800000000.000001", *replies])
    assert "Traceback" not in frozen_bot.log()


def test_redis_frozen_after_slack_took_the_weekly_post_recovers_it_and_never_posts_twice(
        own_redis: RedisServer, slack: FakeSlack, corpus: Corpus) -> None:  # fmt: skip
    """The clock's path: Slack takes the post, then Redis freezes before the post is recorded (the claim's
    done mark, the rotation and the post's record). The run reports a retry, not a post; once Redis is back
    and the claim's lease has lapsed, the next run finds the post in the channel instead of sending it again."""
    monday = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/London"))
    slack.clock = monday.timestamp
    slack.accept_then("chat.postMessage", "slow", seconds=1.5)  # Slack posts at once, answers late
    r = redis_client_for(own_redis.url, timeout=0.5)
    poster = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus, lease_seconds=2)
    schedule = Schedule(id="ward-9", team="T0AAA", channel="C0WARD9", sectors=("health",))

    def weekly_posts() -> list[dict]:
        return [m for m in slack.channel_messages("C0WARD9") if (m.get("metadata") or {}).get("event_payload")]

    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(poster.deliver_all, [schedule], monday)
        wait_for(lambda: weekly_posts(), timeout=5)  # Slack has acted; its answer is still on its way
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        try:
            first = run.result(timeout=15)[0]
        finally:
            os.kill(own_redis.process.pid, signal.SIGCONT)
    assert (first.outcome, first.error) == ("retry", "redis_unavailable")
    assert len(weekly_posts()) == 1

    deadline = time.monotonic() + 10
    second = poster.deliver_all([schedule], monday)[0]
    while second.outcome in ("busy", "retry") and time.monotonic() < deadline:  # the lease (2 s) lapses
        time.sleep(0.2)
        second = poster.deliver_all([schedule], monday)[0]
    assert second.outcome == "recovered", second
    assert len(weekly_posts()) == 1
    assert poster.deliver_all([schedule], monday)[0].outcome == "already"
