"""The bot recognises its own posts from the ``message_metadata_posted`` events Slack sends back (issue 21, item 2).

Slack sends that event only for the ``(app_id, event_type)`` pairs the manifest lists under
``settings.event_subscriptions.metadata_subscriptions``: a metadata type the bot posts but does not subscribe
to never comes back, and its lost answer can only be settled by reading history (once a minute, 15 messages a
page, for an app outside the Marketplace). Real processes, a real Redis, events signed as Slack signs them.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from test_lost_answers import MONDAY_0930, SCHEDULES
from test_weekly_processes import posts, run_due

from bot.slack.localslack import BOT_ID, BOT_USER_ID
from conftest import ROOT, RedisServer, bot_env, free_port, start_bot, stop_bot
from fakeslack import SINGLE_TEAM, FakeSlack, HistoryLimits

MANIFEST = ROOT / "manifest.yml"


def posted_event_types() -> set[str]:
    """Every metadata event type the bot puts on a Slack message whose ts the ``:seen`` shortcut records."""
    types = set()
    for path in (ROOT / "bot").rglob("*.py"):
        types |= set(re.findall(r'^(?:EVENT_TYPE|SHARED_EVENT|FOLLOWUP_EVENT|QUESTIONS_EVENT) = "([a-z_]+)"',
                                path.read_text(), re.M))  # fmt: skip
    return types


def test_the_manifest_subscribes_to_every_metadata_type_the_bot_recognises_its_posts_by() -> None:
    """On the old code the manifest subscribed to none: Slack never sent ``message_metadata_posted``, so the
    listener never ran and every lost answer was settled by reading history."""
    settings = yaml.safe_load(MANIFEST.read_text())["settings"]["event_subscriptions"]
    assert "message_metadata_posted" in settings["bot_events"]
    subscribed = {s["event_type"] for s in settings.get("metadata_subscriptions") or []}
    wanted = posted_event_types()
    assert {"scr_weekly_post", "scr_weekly_summary", "scr_shared_reflection"} <= wanted  # the scan finds them
    assert wanted <= subscribed, wanted - subscribed
    app_ids = {s["app_id"] for s in settings["metadata_subscriptions"]}
    assert len(app_ids) == 1 and re.fullmatch(r"A[0-9A-Z]+", app_ids.pop())  # one app (ours), an app id's shape


@pytest.mark.slow
@pytest.mark.parametrize("body_team, weeks", [(SINGLE_TEAM, 10), ("T0OTHERORG", 11)])  # weeks no other test posts
def test_a_metadata_event_for_a_lost_weekly_post_settles_it_without_reading_history(
        tmp_path: Path, slack: FakeSlack, redis_server: RedisServer, body_team: str, weeks: int) -> None:  # fmt: skip
    """The weekly post's answer is lost and history cannot be read; Slack then sends ``message_metadata_posted``
    for the post. The next sweep recovers it from what the event recorded: 0 ``conversations.history`` calls.
    ``T0OTHERORG``: the body names another organisation's team (a Slack Connect channel); the event belongs to
    the workspace Bolt authorized (on the old code the listener filed it under the body's team: not recorded)."""
    slack.history_limits = HistoryLimits()
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "wards.yaml").write_text(SCHEDULES)
    monday = MONDAY_0930 + timedelta(weeks=weeks)
    slack.clock = monday.timestamp
    env = bot_env(slack, redis_server.url, tmp_path, SCR_SCHEDULES_DIR=str(schedules), SCR_CLAIM_LEASE_SECONDS="30",
                  SCR_CALL_BUDGET_MS="12000")  # fmt: skip
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        slack.accept_then("chat.postMessage", 500, channel="C0WARD7")
        slack.fail("conversations.history", status=503, retry_after=None, error="service_unavailable", times=10)
        first = run_due(env, monday)
        assert re.search(r"ward-7 \S+: retry", first), first
        slack.faults.clear()
        (post,) = posts(slack, "C0WARD7")
        event = {"type": "message_metadata_posted", "app_id": "A0SCR", "bot_id": BOT_ID, "user_id": BOT_USER_ID,
                 "team_id": body_team, "channel_id": "C0WARD7", "metadata": post["metadata"],
                 "message_ts": post["ts"], "event_ts": post["ts"]}  # fmt: skip
        body = {"token": "legacy", "team_id": body_team, "api_app_id": "A0SCR", "event": event,
                "type": "event_callback", "event_id": f"EvMeta{body_team}", "event_time": int(time.time()),
                "authorizations": [{"team_id": SINGLE_TEAM, "user_id": "U0BOT", "is_bot": True,
                                    "is_enterprise_install": False}]}  # fmt: skip
        assert bot.post(json.dumps(body), "application/json").status == 200
        reads = len(slack.calls_to("conversations.history"))
        second = run_due(env, monday + timedelta(minutes=10))
        assert re.search(r"ward-7 \S+: recovered", second), second
        assert len(slack.calls_to("conversations.history")) == reads  # 0 reads: settled from the event
        assert len(posts(slack, "C0WARD7")) == 1
    finally:
        stop_bot(bot)
