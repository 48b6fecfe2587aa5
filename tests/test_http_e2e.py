"""The bot as deployed: `scr-bot run` under gunicorn, signed requests over real HTTP, real Redis."""

from __future__ import annotations

import json
import time

from conftest import REDIS_KIND, BotProcess, command_body, http, sign


def blocks_text(message: dict) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


def test_signed_help_command_gets_a_helpful_ephemeral_answer(bot: BotProcess) -> None:
    resp = bot.command("help")
    assert resp.status == 200
    msg = resp.json()
    assert msg["response_type"] == "ephemeral"
    text = blocks_text(msg)
    assert "Learning from Serious Case Reviews" in text
    assert "/scr neglect" in text
    assert msg["text"]  # notification / screen-reader fallback is always present


def test_start_up_log_has_no_warnings_or_tracebacks(bot: BotProcess) -> None:
    # Bolt warned "As you gave `client` as well, `token` will be unused" on every real start.
    log = bot.log()
    assert "will be unused" not in log and " WARNING " not in log and "Traceback" not in log, log


def test_empty_command_is_help(bot: BotProcess) -> None:
    assert "Learning from Serious Case Reviews" in blocks_text(bot.command("").json())


def test_wrong_signature_is_rejected(bot: BotProcess) -> None:
    body = command_body("help")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret="not-the-secret")}
    assert http("POST", bot.url + "/slack/events", body, headers).status == 401


def test_unsigned_request_is_rejected(bot: BotProcess) -> None:
    body = command_body("help")
    resp = bot.post(body, "application/x-www-form-urlencoded", signed=False)
    assert resp.status == 401


def test_timestamp_older_than_five_minutes_is_rejected(bot: BotProcess) -> None:
    resp = bot.post(command_body("help"), "application/x-www-form-urlencoded", timestamp=int(time.time()) - 301)
    assert resp.status == 401


def test_body_tampered_after_signing_is_rejected(bot: BotProcess) -> None:
    body = command_body("help")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    assert http("POST", bot.url + "/slack/events", body.replace("help", "hel"), headers).status == 401


def test_healthz_reports_version_mode_and_content(bot: BotProcess) -> None:
    from bot import __version__

    resp = http("GET", bot.url + "/healthz")
    assert resp.status == 200
    body = resp.json()
    assert body["ok"] is True
    assert (body["version"], body["mode"]) == (__version__, "http")
    assert body["redis"] == {"breaker_open": False}
    assert body["content"]["points"] >= 80


def test_readyz_reports_redis_and_slack(bot: BotProcess) -> None:
    resp = http("GET", bot.url + "/readyz")
    assert resp.status == 200, resp.body
    body = resp.json()
    assert body["ok"] is True
    assert body["redis"] == {"ok": True, "kind": "cluster" if REDIS_KIND == "cluster" else "external"}
    assert body["slack"] == {"ok": True}


def test_events_the_bot_ignores_are_still_acknowledged(bot: BotProcess) -> None:
    # Bolt would answer 404 to an event no listener matches, and Slack would retry it three times.
    resp = bot.event({"type": "reaction_added", "user": "U1", "reaction": "tada", "event_ts": "1.2"})
    assert resp.status == 200


def test_buttons_the_bot_does_not_know_are_acknowledged(bot: BotProcess) -> None:
    assert bot.action("some_other_apps_button", "x").status == 200


def test_url_verification_challenge(bot: BotProcess) -> None:
    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"})
    resp = bot.post(body, "application/json")
    assert resp.status == 200
    assert resp.json()["challenge"] == "abc123"


def test_bot_verified_its_token_with_slack(bot: BotProcess, module_slack) -> None:  # noqa: ANN001
    assert module_slack.calls_to("auth.test"), "Bolt should call auth.test against SLACK_API_URL"
