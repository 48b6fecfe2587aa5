"""Junk at the door: every malformed, unsigned or oversized request gets a 4xx, never a 5xx or a traceback.

The bot runs as deployed (`scr-bot run`, gunicorn, real Redis); requests are sent over real HTTP,
signed exactly as Slack signs them (or deliberately not).
"""

from __future__ import annotations

import json
import socket
import time
from http.client import HTTPConnection
from urllib.parse import urlencode, urlparse

import pytest
import redis

from bot.content.corpus import Corpus
from bot.reflections.store import ReflectionStore
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from conftest import BotProcess, action_body, command_body, event_body, http, sign
from fakeslack import FakeSlack

JSON, FORM = "application/json", "application/x-www-form-urlencoded"
def _event(event: dict) -> str:
    return json.dumps({"type": "event_callback", "team_id": "T0AAA", "event_id": "Ev1", "event": event})


def _payload(payload: dict) -> str:
    return urlencode({"payload": json.dumps({"team": {"id": "T0AAA"}, "api_app_id": "A0SCR", **payload})})


def _form(metadata: str) -> dict:
    state = {"stood_out": {"value": {"type": "plain_text_input", "value": "words"}}}
    return {"type": "view_submission", "user": {"id": "U1", "team_id": "T0AAA"}, "trigger_id": "t.1",
            "view": {"id": "V1", "team_id": "T0AAA", "type": "modal", "callback_id": "scr_reflection",
                     "private_metadata": metadata, "state": {"values": state}}}  # fmt: skip


HELLO = json.dumps({"type": "event_callback", "team_id": "T0AAA", "event": {"type": "reaction_added"}})

# (name, body, content type, how it is signed, expected status)
#   signing: "yes" (valid), "no" (no headers), "forged" (wrong secret), or a literal timestamp string
CASES = [
    ("unsigned JSON", HELLO, JSON, "no", 401),
    ("unsigned junk", "{not json", JSON, "no", 401),
    ("unsigned empty body", "", JSON, "no", 401),
    ("forged signature", HELLO, JSON, "forged", 401),
    ("unsigned with a non-numeric timestamp", HELLO, JSON, "forged-abc", 401),
    ("signed, stale timestamp", HELLO, JSON, str(int(time.time()) - 3600), 401),
    ("signed, malformed JSON", '{"type": "event_callback", "event": ', JSON, "yes", 400),
    ("signed, JSON array", '[{"type": "event_callback"}]', JSON, "yes", 400),
    ("signed, JSON string", '"hello"', JSON, "yes", 400),
    ("signed, JSON null", "null", JSON, "yes", 400),
    ("signed, non-numeric X-Slack-Request-Timestamp", HELLO, JSON, "abc", 400),
    ("signed, form body sent as application/json", command_body("help"), JSON, "yes", 400),
    ("signed, empty body", "", JSON, "yes", 400),
    ("signed, empty form", "", FORM, "yes", 400),
    ("signed, whitespace body", "   \n", JSON, "yes", 400),
    ("signed, payload that is not JSON", urlencode({"payload": "{broken"}), FORM, "yes", 400),
    ("signed, payload that is a JSON array", urlencode({"payload": "[1, 2]"}), FORM, "yes", 400),
    ("signed, form with neither command nor payload", urlencode({"foo": "bar"}), FORM, "yes", 400),
    ("signed, event_callback whose event is a string", json.dumps({"type": "event_callback", "event": "x"}), JSON,
     "yes", 400),
    ("signed, text/plain", "hello", "text/plain", "yes", 400),
    ("signed, X-Slack-Request-Timestamp of 400 digits", HELLO, JSON, "9" * 400, 400),
    ("signed, X-Slack-Request-Timestamp hugely negative", HELLO, JSON, "-" + "9" * 400, 400),
    ("signed, X-Slack-Request-Timestamp with underscores", HELLO, JSON, "1_700_000_000", 400),
    ("signed, message event with a numeric channel", _event({"type": "message", "channel": 5, "ts": {}, "user": "U1",
                                                             "text": "x"}), JSON, "yes", 400),
    ("signed, message_changed whose message is a string", _event({"type": "message", "subtype": "message_changed",
                                                                  "channel": "C1", "message": "x"}), JSON, "yes", 400),
    ("signed, reply whose thread_ts is an object", _event({"type": "message", "user": "U1", "channel": "C1", "ts": "1.1",
                                                           "thread_ts": {"a": 1}, "text": "x"}), JSON, "yes", 400),
    ("signed, reply whose ts is not a Slack timestamp", _event({"type": "message", "user": "U1", "channel": "C1",
                                                                "ts": "abc", "thread_ts": "1.0", "text": "x"}), JSON, "yes", 400),
    ("signed, message_deleted whose deleted_ts is a list", _event({"type": "message", "subtype": "message_deleted",
                                                                   "channel": "C1", "deleted_ts": ["x"]}), JSON, "yes", 400),
    ("signed, app_home_opened whose user is a list", _event({"type": "app_home_opened", "user": ["U1"], "tab": "home"}),
     JSON, "yes", 400),
    ("signed, team_id that is a number", json.dumps({"type": "event_callback", "team_id": 7, "event": {"type": "x"}}),
     JSON, "yes", 400),
    ("signed, button whose value is a number", _payload({"type": "block_actions", "user": {"id": "U1"},
                                                         "actions": [{"action_id": "scr_reflect", "value": 5}]}), FORM,
     "yes", 400),
    ("signed, interaction whose user is a string", _payload({"type": "block_actions", "user": "U1", "actions": []}),
     FORM, "yes", 400),
    ("signed, form whose private_metadata is an object", _payload({"type": "view_submission", "user": {"id": "U1"},
                                                                   "view": {"id": "V1", "private_metadata": {"a": 1}}}),
     FORM, "yes", 400),
    ("signed, fine shape: Reflect form whose private_metadata is not JSON", _payload(_form("{broken")), FORM, "yes", 200),
    ("signed, fine shape: Reflect button whose value is broken JSON", action_body("scr_reflect", "{broken"), FORM, "yes",
     200),
    ("signed, fine: /scr help", command_body("help"), FORM, "yes", 200),
    ("signed, fine: an event", event_body({"type": "reaction_added", "user": "U1", "event_ts": "1.2"}), JSON, "yes",
     200),
]  # fmt: skip


def _headers(body: str, content_type: str, signing: str) -> dict[str, str]:
    headers = {"Content-Type": content_type}
    if signing == "yes":
        headers.update(sign(body))
    elif signing == "forged":
        headers.update(sign(body, secret="not-the-secret"))
    elif signing == "forged-abc":
        headers.update(sign(body, timestamp="abc", secret="not-the-secret"))  # type: ignore[arg-type]
    elif signing != "no":
        headers.update(sign(body, timestamp=signing))  # type: ignore[arg-type]
    return headers


@pytest.mark.parametrize(("name", "body", "content_type", "signing", "expected"), CASES, ids=[c[0] for c in CASES])
def test_malformed_requests_get_a_4xx(bot: BotProcess, name: str, body: str, content_type: str, signing: str,
                                      expected: int) -> None:  # fmt: skip
    resp = http("POST", bot.url + "/slack/events", body, _headers(body, content_type, signing))
    assert resp.status == expected, (name, resp.status, resp.body[:200])


def test_signed_body_that_is_not_utf8_is_a_400(bot: BotProcess) -> None:
    raw = b'{"type": "event_callback", "event": {"text": "\xff\xfe"}}'
    ts = str(int(time.time()))
    import hashlib
    import hmac

    from conftest import SIGNING_SECRET

    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    status, _ = _raw_post(bot, raw, {"Content-Type": JSON, "X-Slack-Request-Timestamp": ts,
                                     "X-Slack-Signature": f"v0={digest}"})  # fmt: skip
    assert status == 400


def _raw_post(bot: BotProcess, body: bytes, headers: dict[str, str], declared_length: int | None = None,
              timeout: float = 5) -> tuple[int, float]:  # fmt: skip
    """POST over a bare socket (so a body can be shorter than its Content-Length); (status, seconds to answer)."""
    url = urlparse(bot.url)
    lines = ["POST /slack/events HTTP/1.1", f"Host: {url.netloc}",
             f"Content-Length: {declared_length if declared_length is not None else len(body)}"]  # fmt: skip
    lines += [f"{k}: {v}" for k, v in headers.items()]
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), time.monotonic() - started


def test_a_huge_declared_body_is_refused_without_reading_it(bot: BotProcess) -> None:
    """100 MB announced, 1 KB sent: the answer comes at once (the bot does not wait for the rest)."""
    status, took = _raw_post(bot, b"{" + b" " * 1023, {"Content-Type": JSON, **sign("{}")},
                             declared_length=100 * 1024 * 1024)  # fmt: skip
    assert status == 413
    assert took < 2


def test_a_body_over_the_cap_is_refused(bot: BotProcess) -> None:
    """Refused on its declared length, before the bot reads it: only the headers are sent (sending the 2 MB too
    races the bot's early answer and close, and the client can see a broken pipe instead of the 413)."""
    body = json.dumps({"type": "event_callback", "event": {"type": "message", "text": "x" * (2 * 1024 * 1024)}})
    url = urlparse(bot.url)
    conn = HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.putrequest("POST", "/slack/events")
        for name, value in {"Content-Type": JSON, "Content-Length": str(len(body.encode())), **sign(body)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()


def test_a_stored_reflection_is_capped_at_slacks_message_limit(bot: BotProcess, module_slack: FakeSlack,
                                                               shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    schedule = Schedule(id="s-cap", team="T0AAA", channel="C0CAP", sectors=("health",))
    post = WeeklyPoster(shared_redis, SlackDeliveries(make_client("xoxb-test", module_slack.url), corpus), corpus).deliver(schedule, ignore_time=True)
    ts = f"{time.time():.6f}"
    event = {"type": "message", "channel": "C0CAP", "user": "U0LONG", "text": "word " * 30_000, "ts": ts,
             "thread_ts": post.ts, "event_ts": ts, "channel_type": "channel"}  # fmt: skip
    assert bot.event(event, event_id="EvLong").status == 200
    (saved,) = ReflectionStore(shared_redis, 365).for_user(Workspace("T0AAA"), "U0LONG")
    assert 0 < len(saved.text) <= 40_000


def test_no_request_above_left_a_traceback_or_a_5xx_in_the_log(bot: BotProcess) -> None:
    """Runs last in this module: everything above was answered without an unhandled error."""
    log = bot.log()
    assert "Traceback" not in log, log[-3000:]
    assert " 500 " not in log and "Exception on /slack/events" not in log
