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
    http,
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


def reflect_value(answer: dict) -> str:
    """The Reflect button's value (the point) on a lookup answer."""
    buttons = [e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return next(e["value"] for e in buttons if e.get("action_id") == "scr_reflect")


def storage_notes(slack: FakeSlack, url: str) -> list[dict]:
    return [r for r in slack.responses if r.get("_url") == url and "can't reach my storage" in r.get("text", "")]


def test_lookups_answer_with_redis_killed_for_workspaces_this_process_never_saw_and_in_a_process_started_after(
        slack: FakeSlack, own_redis: tuple, tmp_path: Path) -> None:  # fmt: skip
    url, _, server = own_redis
    slack.oauth.lifetime = 43200
    env = bot_env(slack, url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                  SLACK_CLIENT_SECRET=slack.oauth.client_secret)  # fmt: skip
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    later = None
    try:
        install(bot, slack, "code-down", ONE)
        install(bot, slack, "code-never-asked", TWO)
        assert "Neglect" in dumps(bot.command("neglect", team=ONE, channel=CHANNEL[ONE]).json())
        # Redis up: a workspace that never installed is not answered (Bolt says the installation is missing).
        never = bot.command("neglect", team="T0NEVER", channel="C0NEVER", response_url=slack.response_url())
        assert never.status == 200 and "Neglect" not in never.body.decode()

        server.process.kill()  # Redis dies (SIGKILL)
        server.process.wait(10)
        for _ in range(2):
            answer = bot.command("neglect", team=ONE, channel=CHANNEL[ONE])
            assert answer.status == 200, (answer.status, bot.log()[-2000:])
            assert "Neglect" in dumps(answer.json())
        # Installed, but never seen by this process: its token is in Redis, which is down. A lookup needs neither.
        fresh = bot.command("neglect", team=TWO, channel=CHANNEL[TWO])
        assert fresh.status == 200, (fresh.status, bot.log()[-2000:])
        assert "Neglect" in dumps(fresh.json()) and "can't reach my storage" not in dumps(fresh.json())
        # What needs the token or Redis gets the clear storage line: a Reflect click (through its response_url,
        # no form opened without a token) and a command that saves.
        note_url = slack.response_url()
        click = bot.action("scr_reflect", reflect_value(fresh.json()), team=TWO, channel=CHANNEL[TWO],
                           response_url=note_url, message_ts="1796600000.000100")  # fmt: skip
        assert click.status == 200, (click.status, bot.log()[-2000:])
        wait_for(lambda: storage_notes(slack, note_url))
        assert not [c for c in slack.calls_to("views.open")]
        quiz = bot.command("quiz on", team=TWO, channel=CHANNEL[TWO])
        assert quiz.status == 200 and "can't reach my storage" in quiz.json()["text"]
        # An event (a thread reply to keep) is answered 503, so Slack sends it again once Redis is back.
        reply = {"type": "message", "channel": CHANNEL[TWO], "user": "U0A", "text": "We escalated sooner",
                 "ts": f"{time.time():.6f}", "thread_ts": "1796600000.000100", "channel_type": "channel"}  # fmt: skip
        assert bot.event(reply, team=TWO, event_id="EvStoreDown1").status == 503

        # A web process started while Redis is down: up (alive, not ready), and it answers lookups.
        later = start_bot(["run", "--no-scheduler"], env, tmp_path / "later.log", free_port())
        assert http("GET", later.url + "/healthz").status == 200
        ready = http("GET", later.url + "/readyz")
        assert ready.status == 503 and ready.json()["redis"]["ok"] is False
        for team in (ONE, TWO):
            answer = later.command("neglect", team=team, channel=CHANNEL[team])
            assert answer.status == 200, (answer.status, later.log()[-2000:])
            assert "Neglect" in dumps(answer.json()), (dumps(answer.json())[:300], later.log()[-2000:])
        later_url = slack.response_url()
        assert later.action("scr_reflect", reflect_value(answer.json()), team=ONE, channel=CHANNEL[ONE],
                            response_url=later_url, message_ts="1796600000.000100").status == 200  # fmt: skip
        wait_for(lambda: storage_notes(slack, later_url))
        assert not [c for c in slack.calls_to("views.open")]
        for process in (bot, later):
            assert "Traceback" not in process.log()
    finally:
        stop_bot(bot)
        if later is not None:
            stop_bot(later)


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
