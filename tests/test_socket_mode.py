"""`scr-bot run` in Socket Mode: the app token opens a WebSocket, and commands and events arrive as envelopes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_weekly_processes import spawn

from blockkit import assert_valid_message, dumps
from conftest import RedisServer, bot_env
from fakeslack import FakeSlack


@pytest.fixture
def socket_bot(slack: FakeSlack, redis_server: RedisServer, tmp_path: Path):  # noqa: ANN201
    env = bot_env(slack, redis_server.url, tmp_path, SLACK_APP_TOKEN="xapp-1-test")
    env.pop("SLACK_SIGNING_SECRET")
    proc = spawn(env, "run", "--no-scheduler")
    deadline = time.monotonic() + 30
    while slack.socket_mode is None or not slack.socket_mode.connected.is_set():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the bot did not open a Socket Mode connection"
        time.sleep(0.05)
    yield slack.socket_mode
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert "connecting to Slack in Socket Mode" in out


def test_socket_mode_answers_slash_commands_and_acknowledges_events(socket_bot, slack: FakeSlack) -> None:  # noqa: ANN001
    assert any(c.method == "apps.connections.open" for c in slack.calls)
    socket_bot.send({"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
                     "payload": {"team_id": "T0AAA", "channel_id": "C0AAA", "user_id": "U0AAA", "command": "/scr",
                                 "text": "neglet police", "response_url": slack.response_url(), "trigger_id": "t"}})  # fmt: skip
    ack = socket_bot.wait_ack("env-1")
    assert ack is not None, "no acknowledgement for the command"
    message = ack["payload"]
    assert message["response_type"] == "ephemeral"
    assert_valid_message(message)
    assert "“neglet” → neglect" in dumps(message) and "Police &amp; criminal justice" in dumps(message)

    socket_bot.send({"envelope_id": "env-2", "type": "events_api", "accepts_response_payload": False,
                     "payload": {"team_id": "T0AAA", "type": "event_callback", "event_id": "Ev1",
                                 "event": {"type": "reaction_added", "user": "U1", "reaction": "tada"}}})  # fmt: skip
    assert socket_bot.wait_ack("env-2") is not None, "an event the bot ignores is still acknowledged"


def test_socket_mode_acknowledges_a_payload_of_the_wrong_shape_without_a_traceback(slack: FakeSlack,
                                                                                   redis_server: RedisServer,
                                                                                   tmp_path: Path) -> None:  # fmt: skip
    """The same edge check as HTTP (bot.shapes): acknowledged and logged in one line, never seen by a listener."""
    env = bot_env(slack, redis_server.url, tmp_path, SLACK_APP_TOKEN="xapp-1-test")
    env.pop("SLACK_SIGNING_SECRET")
    proc = spawn(env, "run", "--no-scheduler")
    try:
        deadline = time.monotonic() + 30
        while slack.socket_mode is None or not slack.socket_mode.connected.is_set():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        sock = slack.socket_mode
        bad = [{"type": "message", "channel": 5, "ts": {}, "user": "U1", "text": "x"},
               {"type": "message", "subtype": "message_changed", "channel": "C1", "message": "x"}]  # fmt: skip
        for n, event in enumerate(bad):
            sock.send({"envelope_id": f"env-bad-{n}", "type": "events_api", "accepts_response_payload": False,
                       "payload": {"team_id": "T0AAA", "type": "event_callback", "event_id": f"EvBad{n}", "event": event}})  # fmt: skip
            assert sock.wait_ack(f"env-bad-{n}") is not None, "a malformed envelope is still acknowledged"
        sock.send({"envelope_id": "env-ok", "type": "slash_commands", "accepts_response_payload": True,
                   "payload": {"team_id": "T0AAA", "channel_id": "C0AAA", "user_id": "U0AAA", "command": "/scr",
                               "text": "help", "response_url": slack.response_url(), "trigger_id": "t"}})  # fmt: skip
        assert sock.wait_ack("env-ok") is not None  # still serving
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Traceback" not in out, out[-3000:]
    assert out.count("ignored a Socket Mode events_api envelope: event.") == 2, out[-3000:]
