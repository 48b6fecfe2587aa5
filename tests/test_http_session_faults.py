"""Sessions under faults the end-to-end test does not cover, over signed HTTP into the bot as a process.

A lost Redis reply on the action's write: Redis wrote it, the bot never heard, and Redis was unreachable for
a few seconds. The person was told the outcome is unknown and that pressing Agree again is safe; the retry
must complete the action (thread reply, owner's list, the clock's follow-up), never record it twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis_fault_proxy import RedisFaultProxy
from test_http_sessions import (
    LONDON,
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
    RedisServer,
    bot_env,
    command_answer,
    free_port,
    start_bot,
    start_redis,
    stop_bot,
    stored_action,
    wait_for,
)
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
CHANNEL, LEAD, OWNER = "C0TEAM", "U0LEAD", "U0ANN"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.process.terminate()
    server.process.wait(10)


@pytest.fixture
def proxy(own_redis: RedisServer) -> Iterator[RedisFaultProxy]:
    p = RedisFaultProxy(own_redis.port, down_seconds=3.0)
    yield p
    p.close()


@pytest.fixture
def env(slack: FakeSlack, proxy: RedisFaultProxy, tmp_path: Path) -> dict[str, str]:
    return bot_env(slack, proxy.url, tmp_path)


@pytest.fixture
def proxied_bot(env: dict[str, str], tmp_path: Path) -> Iterator[BotProcess]:
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def run_session(bot: BotProcess, slack: FakeSlack) -> tuple[dict[str, Any], dict[str, Any]]:
    """/scr briefing neglect → Run in channel; the session post and its controls block."""
    preview = command_answer(bot, slack, "briefing neglect", channel=CHANNEL, user=LEAD)
    run = next(el for b in preview["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_briefing_run")
    assert bot.action("scr_briefing_run", run["value"], channel=CHANNEL, user=LEAD, response_url=slack.response_url()).status == 200
    post = wait_for(lambda: [m for m in slack.channel_messages(CHANNEL) if not m.get("thread_ts")], timeout=15)[0]
    controls = next(b for b in post["blocks"] if b.get("block_id", "").startswith("scr_session:"))
    return post, controls


def open_form(bot: BotProcess, slack: FakeSlack, post: dict[str, Any], controls: dict[str, Any]) -> dict[str, Any]:
    agree = next(el for el in controls["elements"] if el.get("action_id") == "scr_session_agree")
    n = len(slack.views)
    block_action(bot, {**agree, "block_id": controls["block_id"]}, user=LEAD, channel=CHANNEL, message_ts=post["ts"])
    return wait_for(lambda: [v for v in slack.views[n:] if v["method"] == "views.open"], timeout=10)[0]


def test_a_lost_reply_on_the_actions_write_then_agree_again_completes_it_once(
        proxied_bot: BotProcess, slack: FakeSlack, proxy: RedisFaultProxy, own_redis: RedisServer,
        env: dict[str, str]) -> None:  # fmt: skip
    bot, r = proxied_bot, own_redis.client()
    slack.members[CHANNEL] = {LEAD, OWNER, "U0BOT", "U0LOCALBOT"}
    post, controls = run_session(bot, slack)
    form = open_form(bot, slack, post, controls)
    due = weekday_on_or_after(datetime.now(LONDON).date() + timedelta(days=14))
    state = action_state("Ask about fathers at every visit", OWNER, due.isoformat())

    # Redis writes the action, its reply is lost, and Redis is unreachable for 3 s.
    proxy.lose_reply_after(b"action:V0CUT", lambda: bool(list(r.scan_iter("scr:*:action:V0CUT"))))
    assert submit(bot, form["view"], "V0CUT", state)["response_action"] == "update"
    back = wait_for(lambda: [v for v in updates(slack, "V0CUT") if "storage" in dumps(v)], timeout=15)[-1]
    assert proxy.lost == 1, bot.log()[-2000:]
    said = dumps(back)
    assert "nothing was recorded" not in said  # it was: the outcome is unknown, and the person is told so
    assert "may have been saved" in said and "safe" in said
    assert back["blocks"][1]["element"]["initial_value"] == "Ask about fathers at every visit"

    # The person presses Agree again, as told, until storage answers (the bot's breaker waits a few seconds).
    def agreed() -> list[dict[str, Any]]:
        return [m for m in slack.thread(CHANNEL, post["ts"]) if (m.get("metadata") or {}).get("event_type") == "scr_agreed_action"]

    deadline = time.monotonic() + 30
    while not any("Agreed." in dumps(v) for v in updates(slack, "V0CUT")):
        assert time.monotonic() < deadline, bot.log()[-3000:]
        submit(bot, back, "V0CUT", state)
        time.sleep(1.0)
    submit(bot, back, "V0CUT", state)  # once more, for good measure: still one action

    wait_for(agreed, timeout=10)
    time.sleep(1.0)
    assert len(agreed()) == 1, bot.log()[-3000:]  # listed in the thread, once
    owned = next(r.scan_iter(f"scr:*:actions-owner:{OWNER}"), None)
    assert owned and r.smembers(owned) == {"V0CUT"}  # on the owner's list (App Home, /scr actions)
    assert "Ask about fathers" in dumps(command_answer(bot, slack, "actions", channel=CHANNEL, user=LEAD))

    # The clock follows it up on the due date.
    at = datetime.combine(due, datetime.min.time(), LONDON).replace(hour=10)
    out = run_due(env, at)
    assert "follow-up due V0CUT: sent" in out, out
    assert len(dms(slack, OWNER, "scr_followup")) == 1
    assert stored_action(r, "V0CUT")["owner"] == OWNER
