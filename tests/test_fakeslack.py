"""The Slack stand-ins themselves: the shipped local Web API answers like Slack, and the test fake's
faults do what tests rely on (a lost answer after Slack acted must really have acted)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import localslack
from bot.slack.localslack import LocalSlack
from fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent


def bare(url: str, timeout: float = 10) -> WebClient:
    """A client with no retry handlers at all, so a test sees exactly what Slack answered."""
    return WebClient(token="xoxb-test", base_url=url, timeout=timeout, retry_handlers=[])


@pytest.fixture
def local() -> LocalSlack:
    server = LocalSlack().serve()
    yield server
    server.close()


def test_the_shipped_local_api_answers_unknown_methods_as_slack_does(local: LocalSlack) -> None:
    client = bare(local.url)
    for method in ("apps.connections.open", "chat.scheduleMessage", "admin.users.list", "made.up"):
        with pytest.raises(SlackApiError) as err:
            client.api_call(method)
        assert err.value.response["error"] == "unknown_method", method
    assert client.auth_test()["team_id"] == localslack.TEAM_ID
    posted = client.chat_postMessage(channel="C1", text="hello")
    assert [m["text"] for m in local.channel_messages("C1")] == ["hello"]
    assert client.conversations_history(channel="C1")["messages"][0]["ts"] == posted["ts"]


def test_the_shipped_package_carries_no_test_machinery() -> None:
    """Socket Mode, faults and rate limits live under tests/, not in the wheel's ``bot`` package."""
    for name in ("fail", "accept_then", "faults", "limits", "socket_mode", "calls", "hold", "delay"):
        assert not hasattr(LocalSlack(), name), name
    for module in (ROOT / "bot").rglob("*.py"):
        text = module.read_text()
        assert "import fakeslack" not in text and "from fakeslack" not in text, module
        for machinery in ("Sec-WebSocket-Accept", "class RateLimits", "def accept_then", "SO_LINGER"):
            assert machinery not in text, (module, machinery)


def test_replies_and_history_paginate_like_slack(local: LocalSlack) -> None:
    client = bare(local.url)
    parent = client.chat_postMessage(channel="C1", text="post")["ts"]
    for i in range(7):
        client.chat_postMessage(channel="C1", thread_ts=parent, text=f"reply {i}")
    seen, cursor = [], None
    while True:
        page = client.conversations_replies(channel="C1", ts=parent, limit=3, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == ["post"] + [f"reply {i}" for i in range(7)]


@pytest.mark.parametrize("method", ["chat.postMessage", "views.publish", "conversations.open"])
def test_accept_then_500_acts_then_reports_a_server_error(slack: FakeSlack, method: str) -> None:
    slack.accept_then(method, 500)
    args = {"chat.postMessage": {"channel": "C1", "text": "hi"}, "views.publish": {"user_id": "U1", "view": {}},
            "conversations.open": {"users": "U1"}}[method]  # fmt: skip
    with pytest.raises(SlackApiError) as err:
        bare(slack.url).api_call(method, json=args)
    assert err.value.response.status_code == 500
    (call,) = slack.calls_to(method)
    assert call.accepted and call.status == 500
    if method == "chat.postMessage":
        assert [m["text"] for m in slack.channel_messages("C1")] == ["hi"]


def test_accept_then_reset_acts_then_drops_the_connection(slack: FakeSlack) -> None:
    slack.accept_then("chat.postMessage", "reset")
    with pytest.raises((ConnectionError, OSError)):
        bare(slack.url).chat_postMessage(channel="C1", text="hi")
    assert [m["text"] for m in slack.channel_messages("C1")] == ["hi"]
    assert slack.calls_to("chat.postMessage")[0].accepted
    assert bare(slack.url).chat_postMessage(channel="C1", text="again")["ok"]  # the server carries on


def test_slow_answer_acts_at_once_and_answers_late(slack: FakeSlack) -> None:
    slack.accept_then("chat.postMessage", "slow", seconds=1.5)
    with pytest.raises(TimeoutError):
        bare(slack.url, timeout=0.5).chat_postMessage(channel="C1", text="hi")
    assert [m["text"] for m in slack.channel_messages("C1")] == ["hi"]
    started = time.monotonic()
    slack.accept_then("chat.postMessage", "slow", seconds=0.5)
    assert bare(slack.url).chat_postMessage(channel="C1", text="patient")["ok"]
    assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize("status", [429, 500, 503])
def test_refusals_are_not_processed(slack: FakeSlack, status: int) -> None:
    slack.fail("files.getUploadURLExternal", status=status, retry_after=7 if status == 429 else None)
    with pytest.raises(SlackApiError) as err:
        bare(slack.url).files_getUploadURLExternal(filename="a.md", length=3)
    assert err.value.response.status_code == status
    if status == 429:
        assert err.value.response.headers.get("retry-after") in ("7", ["7"])
    assert not slack.accepted("files.getUploadURLExternal")
    assert bare(slack.url).files_getUploadURLExternal(filename="a.md", length=3)["ok"]  # only `times` calls fail
