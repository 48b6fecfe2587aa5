"""Metrics, logs and health (issue 26, item 4): what an operator sees matches what happened.

The bot runs as `scr-bot run` (the supervisor: gunicorn and the clock as sibling processes, one metrics folder),
over signed HTTP, against a real Redis and the fake Slack. A scripted week: lookups, the clock's weekly posts
(one whose answer is lost and is recovered from the channel's history, one Slack answers 429 first), replies
in a post's thread, a purge left pending. Then `/metrics` is scraped on its own port, with its token, and every
number is checked against what the fake Slack and the test itself saw.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from bot.storage import keys
from bot.storage.store import Workspace
from bot.weekly.schedules import Schedule, Subscriptions
from conftest import (
    BotProcess,
    RedisServer,
    bot_env,
    command_answer,
    cron_due_a_minute_ago,
    free_port,
    http,
    start_bot,
    stop_bot,
    wait_for,
)
from fakeslack import SINGLE_TEAM, FakeSlack

pytestmark = pytest.mark.slow
TOKEN = "metrics-test-token"
LOOKUPS = ("neglect", "bruising in a baby", "professional curiosity")


def scrape(port: int, token: str | None = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (name, sorted labels) -> value."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = http("GET", f"http://127.0.0.1:{port}/metrics", headers=headers)
    assert resp.status == 200, resp.body
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.body.decode()) for s in family.samples}  # fmt: skip


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def by_label(samples: dict, name: str, label: str) -> dict[str, float]:
    """``name``'s samples summed by one label (e.g. the Web API method)."""
    out: dict[str, float] = {}
    for (n, labels), v in samples.items():
        if n == name:
            key = dict(labels)[label]
            out[key] = out.get(key, 0.0) + v
    return out


@pytest.fixture
def running(tmp_path: Path, slack: FakeSlack, redis_server: RedisServer,
            redis_client: redis.Redis) -> Iterator[tuple[BotProcess, int]]:  # fmt: skip
    """`scr-bot run` with the clock, metrics on their own port behind a token, JSON logs."""
    slack.clock = time.time
    cron = cron_due_a_minute_ago()
    for channel in ("C0LIVE", "C0BUSY"):
        Subscriptions(redis_client).save(Schedule(id=f"s-{channel}", team=SINGLE_TEAM, channel=channel, post=cron,
                                                  summary=cron, sectors=("police",), source="slack",
                                                  created_by="U0LEAD"))  # fmt: skip
    slack.accept_then("chat.postMessage", "reset", channel="C0LIVE")  # posted, answer lost: recovered
    slack.fail("chat.postMessage", status=429, retry_after=1, channel="C0BUSY")  # refused once, then posted
    empty = tmp_path / "schedules"
    empty.mkdir()
    port = free_port()
    env = bot_env(slack, redis_server.url, tmp_path, SCR_SCHEDULES_DIR=str(empty), SCR_METRICS_PORT=str(port),
                  SCR_METRICS_TOKEN=TOKEN, SCR_LOG_FORMAT="json")  # fmt: skip
    # A leftover from an earlier run of this bot: emptied at start, so it is not added to this run's numbers.
    stale = tmp_path / "var" / "metrics"
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"junk")
    bot = start_bot(["run"], env, tmp_path / "bot.log", free_port())
    try:
        yield bot, port
    finally:
        stop_bot(bot)


def weekly_posts(slack: FakeSlack, channel: str) -> list[dict]:
    return [m for m in slack.channel_messages(channel) if (m.get("metadata") or {}).get("event_type") == "scr_weekly_post"]


def test_the_numbers_after_a_scripted_week_match_what_happened(running: tuple[BotProcess, int], slack: FakeSlack,
                                                               redis_client: redis.Redis) -> None:  # fmt: skip
    bot, port = running
    # The clock posts both weeks: one recovered after its answer was lost, one after a 429.
    wait_for(lambda: len(weekly_posts(slack, "C0LIVE")) == 1 and len(weekly_posts(slack, "C0BUSY")) == 1, timeout=40)
    wait_for(lambda: value(scrape(port), "scr_weekly_posts_total", kind="post", outcome="recovered") == 1, timeout=20)
    wait_for(lambda: value(scrape(port), "scr_weekly_posts_total", kind="post", outcome="posted") == 1, timeout=20)

    for text in LOOKUPS:
        assert command_answer(bot, slack, text)
    thread = weekly_posts(slack, "C0LIVE")[0]["ts"]
    for i in range(2):
        ts = f"{time.time():.6f}"
        event = {"type": "message", "channel": "C0LIVE", "user": f"U0NURSE{i}", "text": "We saw this on the ward too",
                 "ts": ts, "thread_ts": thread, "event_ts": ts, "channel_type": "channel"}  # fmt: skip
        assert bot.event(event, team=SINGLE_TEAM, event_id=f"Ev{i}{ts.replace('.', '')}").status == 200
    unsigned = bot.post("command=/scr&text=x", "application/x-www-form-urlencoded", signed=False,
                        extra_headers={"X-Request-Id": "req-metrics-1"})  # fmt: skip
    assert unsigned.status == 401

    gone = Workspace("T0GONE")
    redis_client.sadd(keys.PURGE_PENDING, keys.workspace_entry(gone))
    try:
        samples = scrape(port)
        assert value(samples, "scr_purges_pending") == 1
    finally:
        redis_client.srem(keys.PURGE_PENDING, keys.workspace_entry(gone))
    assert value(scrape(port), "scr_purges_pending") == 0

    # Requests: one latency sample per request, by kind.
    samples = scrape(port)
    assert value(samples, "scr_request_seconds_count", kind="command") == len(LOOKUPS)
    assert value(samples, "scr_request_seconds_count", kind="event") == 2
    assert value(samples, "scr_request_seconds_count", kind="refused") == 1
    assert value(samples, "scr_request_seconds_bucket", kind="command", le="+Inf") == len(LOOKUPS)

    # Posts: exactly what happened, no more (the leftover file of an earlier run was not added).
    assert value(samples, "scr_weekly_posts_total", kind="post", outcome="recovered") == 1
    assert value(samples, "scr_weekly_posts_total", kind="post", outcome="posted") == 1
    assert value(samples, "scr_weekly_posts_total", kind="post", outcome="failed") == 0

    # Slack: every Web API attempt every process made, by method, is what the fake Slack received; the 429s too.
    def calls_match() -> bool:
        seen = by_label(scrape(port), "scr_slack_api_calls_total", "method")
        with slack.lock:
            received: dict[str, float] = {}
            for call in slack.calls:
                received[call.method] = received.get(call.method, 0.0) + 1
        return {m: v for m, v in seen.items() if v} == received

    wait_for(calls_match, timeout=20)
    samples = scrape(port)
    refused = sum(1 for c in slack.calls_to("chat.postMessage") if c.status == 429)
    assert refused == 1
    assert value(samples, "scr_slack_api_ratelimited_total", method="chat.postMessage", source="slack") == refused

    # Nothing left running after the ack, nothing waiting.
    wait_for(lambda: value(scrape(port), "scr_lazy_running") == 0 and value(scrape(port), "scr_lazy_queued") == 0)

    # Structured logs: one JSON object a line, and the refused request's line carries its request id.
    lines = [json.loads(line) for line in bot.log().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    assert any(line["request_id"] == "req-metrics-1" and "refused" in line["message"] for line in lines), lines


def test_metrics_need_the_token_and_health_answers(running: tuple[BotProcess, int], slack: FakeSlack) -> None:
    bot, port = running
    assert http("GET", f"http://127.0.0.1:{port}/metrics").status == 401
    assert http("GET", f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer wrong"}).status == 401
    assert http("GET", bot.url + "/metrics").status == 404  # never on the Slack port
    assert http("GET", bot.url + "/healthz").status == 200
    before = len(slack.calls_to("api.test"))
    ready = http("GET", bot.url + "/readyz")
    assert ready.status == 200, ready.body
    assert json.loads(ready.body)["slack"]["ok"] is True
    for _ in range(3):
        assert http("GET", bot.url + "/readyz").status == 200
    assert len(slack.calls_to("api.test")) - before == 1  # cached: one check a minute per worker (WEB_CONCURRENCY=1)
