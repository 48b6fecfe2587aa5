"""Many-workspace mode keeps each workspace's authorization: no Redis read or auth.test in front of every answer.

The real bot runs in distributed mode (OAuth, per-workspace tokens) under gunicorn, over signed HTTP; the
fake Slack plays Slack's side of OAuth. Redis is a real server that one test stops outright.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from test_http_distribution import CHANNEL, ONE, TWO, install, oauth_bot, oauth_env  # noqa: F401 - fixtures

from blockkit import dumps
from bot.content.corpus import Corpus
from bot.reflections.store import ReflectionStore
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from conftest import (
    BotProcess,
    bot_env,
    command_body,
    event_body,
    free_port,
    start_bot,
    start_redis,
    stop_bot,
    wait_for,
)
from fakeslack import FakeSlack


def test_five_lookups_cost_one_auth_test(oauth_bot: BotProcess, slack: FakeSlack) -> None:  # noqa: F811
    slack.oauth.lifetime = 43200  # a token good for 12 hours: nothing to rotate
    install(oauth_bot, slack, "code-cache", ONE)
    before = len(slack.calls_to("auth.test"))
    for _ in range(5):
        answer = oauth_bot.command("neglect", team=ONE, channel=CHANNEL[ONE])
        assert answer.status == 200 and "Neglect" in dumps(answer.json())
    assert len(slack.calls_to("auth.test")) - before == 1


@pytest.fixture
def own_redis() -> Iterator[tuple[str, redis.Redis, object]]:
    server = start_redis(Path(tempfile.mkdtemp(prefix="scr-stop-")))
    yield server.url, server.client(), server
    if server.process.poll() is None:
        server.process.kill()
    server.process.wait(10)


def test_lookups_answer_with_redis_stopped_and_a_new_workspace_is_asked_to_try_again(
        slack: FakeSlack, own_redis: tuple, tmp_path: Path) -> None:  # fmt: skip
    url, _, server = own_redis
    slack.oauth.lifetime = 43200
    env = bot_env(slack, url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                  SLACK_CLIENT_SECRET=slack.oauth.client_secret)  # fmt: skip
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        install(bot, slack, "code-down", ONE)
        install(bot, slack, "code-never-asked", TWO)
        assert "Neglect" in dumps(bot.command("neglect", team=ONE, channel=CHANNEL[ONE]).json())

        server.process.terminate()  # Redis stops
        server.process.wait(10)
        for _ in range(3):
            answer = bot.command("neglect", team=ONE, channel=CHANNEL[ONE])
            assert answer.status == 200, (answer.status, bot.log()[-2000:])
            assert "Neglect" in dumps(answer.json())
        # Installed, but never seen by this process: its token is in Redis, which is down.
        fresh = bot.command("neglect", team=TWO, channel=CHANNEL[TWO])
        assert fresh.status == 200, (fresh.status, bot.log()[-2000:])
        assert "try again" in fresh.json()["text"]
        assert "Traceback" not in bot.log()
    finally:
        stop_bot(bot)


def test_a_slack_connect_reply_is_filed_under_the_workspace_that_authorized_it(
        oauth_bot: BotProcess, slack: FakeSlack, shared_redis: redis.Redis, corpus: Corpus) -> None:  # noqa: F811
    slack.oauth.lifetime = 43200
    install(oauth_bot, slack, "code-connect", ONE)
    schedule = Schedule(id="s-connect", team=ONE, channel=CHANNEL[ONE], sectors=("health",))
    post = WeeklyPoster(shared_redis, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus).deliver(schedule, ignore_time=True)
    assert post.outcome == "posted"
    # Someone from another organisation replies in the shared channel: the body names their team, the
    # authorization names the installation that received the event.
    reply = {"type": "message", "channel": CHANNEL[ONE], "user": "U0GUEST", "text": "We escalated sooner",
             "ts": f"{time.time():.6f}", "thread_ts": post.ts, "channel_type": "channel"}  # fmt: skip
    body = json.loads(event_body(reply, team=ONE, event_id="EvConnect1"))
    body["team_id"] = "T0OTHERORG"
    assert oauth_bot.post(json.dumps(body), "application/json").status == 200
    store = ReflectionStore(shared_redis, 365)
    mine = wait_for(lambda: store.for_user(Workspace(ONE), "U0GUEST"))
    assert mine[0].text == "We escalated sooner"
    assert store.for_user(Workspace("T0OTHERORG"), "U0GUEST") == []
    assert not [k for k in shared_redis.scan_iter("*T0OTHERORG*")]


def test_a_request_naming_no_workspace_is_refused_not_filed_under_unknown(
        bot: BotProcess, shared_redis: redis.Redis) -> None:  # fmt: skip
    body = command_body("subscribe monday 09:30", user="U0LEAD", channel="C0NOTEAM").replace("team_id=T0AAA&", "")
    assert "team_id" not in body
    answer = bot.post(body, "application/x-www-form-urlencoded")
    assert answer.status == 200 and "didn't say which workspace" in answer.json()["text"]
    time.sleep(1)
    assert not [k for k in shared_redis.scan_iter("*unknown*")]
    assert "names no workspace" in bot.log()
