"""Many workspaces, one deployment: "Add to Slack", per-workspace tokens (rotated), and uninstall that deletes.

The real bot runs in distributed mode (``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET``, no bot token) under
gunicorn; the fake Slack plays Slack's side of OAuth v2 (codes, ``oauth.v2.access``, token rotation,
expiry and revocation). Two workspaces install it through ``/slack/install`` and ``/slack/oauth_redirect``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from blockkit import dumps
from bot.slack.oauth import manifest_scopes
from bot.storage import keys
from bot.storage.purge import Purger
from bot.storage.store import Workspace
from conftest import (
    ROOT,
    BotProcess,
    RedisServer,
    bot_env,
    command_answer,
    free_port,
    http,
    start_bot,
    stop_bot,
)
from fakeslack import FakeSlack, Install

ONE, TWO = "T0ONE", "T0TWO"
CHANNEL = {ONE: "C1ONE", TWO: "C2TWO"}


@pytest.fixture
def oauth_env(slack: FakeSlack, redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    # A rotating token lives 30 minutes here, inside the 120-minute refresh window: every use refreshes it.
    slack.oauth.lifetime = 1800
    return bot_env(slack, redis_server.url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                   SLACK_CLIENT_SECRET=slack.oauth.client_secret)  # fmt: skip


@pytest.fixture
def oauth_bot(oauth_env: dict[str, str], tmp_path: Path, shared_redis: redis.Redis) -> Iterator[BotProcess]:
    proc = start_bot(["run", "--no-scheduler"], oauth_env, tmp_path / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def install(bot: BotProcess, slack: FakeSlack, code: str, team: str, **kw: Any) -> None:
    """A person clicks "Add to Slack", approves in Slack, and Slack sends the browser back with a code."""
    page = http("GET", bot.url + "/slack/install")
    assert page.status == 200, page.body
    cookie = {k.lower(): v for k, v in page.headers.items()}["set-cookie"].split(";", 1)[0]
    state = re.search(r"state=([0-9a-f]+)", page.body.decode()).group(1)
    assert f"client_id={slack.oauth.client_id}" in page.body.decode()
    assert f"scope={','.join(manifest_scopes(ROOT / 'manifest.yml')[0])}" in page.body.decode()
    slack.oauth.add_install(code, Install(team, f"Team {team}", rotating=True, **kw))
    done = http("GET", f"{bot.url}/slack/oauth_redirect?code={code}&state={state}", headers={"Cookie": cookie})
    assert done.status == 200, done.body
    # The state is single use: replaying the redirect installs nothing.
    slack.oauth.add_install(code + "-again", Install(team, f"Team {team}", rotating=True))
    replay = http("GET", f"{bot.url}/slack/oauth_redirect?code={code}-again&state={state}", headers={"Cookie": cookie})
    assert replay.status >= 400


def keys_of(r: redis.Redis, team: str) -> dict[str, Any]:
    return {k: r.dump(k) for k in r.scan_iter("*") if team in k}


def run_due(env: dict[str, str], at: datetime) -> subprocess.CompletedProcess[str]:
    return warmstart.run([sys.executable, "-m", "bot", "schedule", "run-due", "--now", at.isoformat()],
                          env={**env, "PATH": os.environ["PATH"]}, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_two_workspaces_install_answer_post_with_their_own_rotated_tokens_and_uninstall_deletes(
        oauth_bot: BotProcess, slack: FakeSlack, oauth_env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    for n, team in enumerate((ONE, TWO)):
        install(oauth_bot, slack, f"code-{n}", team)
    issued_at_install = {c for c in slack.oauth.grants}

    # Lookups: each workspace is answered (Bolt authorizes each request with that workspace's token).
    for team in (ONE, TWO):
        answer = oauth_bot.command("neglect", team=team, channel=CHANNEL[team])
        assert answer.status == 200 and "Neglect" in dumps(answer.json())
        sub = command_answer(oauth_bot, slack, "subscribe monday 09:30", team=team, channel=CHANNEL[team], user="U0LEAD")
        assert sub["response_type"] == "in_channel", sub
    # A workspace that never installed is not answered.
    assert "Neglect" not in oauth_bot.command("neglect", team="T0NEVER").body.decode()

    # The weekly post, from a process with no request in hand: each workspace's own, freshly rotated token.
    tz = ZoneInfo("Europe/London")
    today = datetime.now(tz)
    monday = (today - timedelta(days=today.weekday())).replace(hour=9, minute=31, second=0, microsecond=0)
    out = run_due(oauth_env, monday)
    assert out.returncode == 0, out.stdout + out.stderr
    posts = slack.ok_calls("chat.postMessage")
    assert sorted(c.params["channel"] for c in posts) == sorted(CHANNEL.values())
    for call in posts:
        team = ONE if call.params["channel"] == CHANNEL[ONE] else TWO
        grant = slack.oauth.grants[call.token]
        assert grant.team_id == team  # its own workspace's token
        assert call.token not in issued_at_install  # ... refreshed by the scheduled job itself
    assert any(e.get("grant_type") == "refresh_token" for e in slack.oauth.exchanges)
    assert run_due(oauth_env, monday).returncode == 0
    assert len(slack.ok_calls("chat.postMessage")) == 2  # once per week, per channel

    # Someone reflects in workspace one's thread: sensitive data that must go when it uninstalls.
    thread = next(c for c in posts if c.params["channel"] == CHANNEL[ONE])
    thread_ts = next(m["ts"] for m in slack.channel_messages(CHANNEL[ONE]))
    del thread
    ts = f"{time.time():.6f}"
    reply = {"type": "message", "channel": CHANNEL[ONE], "user": "U0NURSE", "text": "We discussed escalation",
             "ts": ts, "thread_ts": thread_ts, "channel_type": "channel"}  # fmt: skip
    assert oauth_bot.event(reply, team=ONE, event_id="EvReply1").status == 200
    assert any("refl" in k for k in keys_of(shared_redis, ONE))

    # Workspace one uninstalls: Slack revokes its tokens and tells the app.
    two_before = keys_of(shared_redis, TWO)
    slack.oauth.uninstall(ONE)
    gone = oauth_bot.event({"type": "app_uninstalled"}, team=ONE, event_id="EvUninstall1")
    assert gone.status == 200
    deadline = time.monotonic() + 15
    while keys_of(shared_redis, ONE) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert keys_of(shared_redis, ONE) == {}, oauth_bot.log()[-3000:]
    assert keys_of(shared_redis, TWO) == two_before  # untouched
    # Nothing is posted for it any more; workspace two carries on.
    out = run_due(oauth_env, monday + timedelta(days=7))
    assert [c.params["channel"] for c in slack.ok_calls("chat.postMessage")[2:]] == [CHANNEL[TWO]]
    assert keys_of(shared_redis, ONE) == {}
    assert "Neglect" in dumps(oauth_bot.command("neglect", team=TWO, channel=CHANNEL[TWO]).json())


def test_concurrent_requests_rotating_one_workspaces_token_spend_its_refresh_token_once(
        oauth_bot: BotProcess, slack: FakeSlack, shared_redis: redis.Redis) -> None:  # fmt: skip
    """Bolt rotates an expiring token while it authorizes a request. Two requests at once for the same
    workspace must not both spend the refresh token (Slack accepts it once): the second would go unanswered."""
    install(oauth_bot, slack, "code-race", ONE)  # its token expires within the refresh window
    slack.oauth.lifetime = 43200  # a rotated token is good for 12 hours: one rotation is enough
    slack.delay["oauth.v2.access"] = 0.5  # Slack takes a moment to answer the exchange
    answers: list[bytes] = []

    def lookup() -> None:
        answers.append(oauth_bot.command("neglect", team=ONE, channel=CHANNEL[ONE]).body)

    threads = [threading.Thread(target=lookup) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    spent = [e["refresh_token"] for e in slack.oauth.exchanges if e.get("grant_type") == "refresh_token"]
    assert len(spent) == len(set(spent)) == 1, spent  # rotated once, its refresh token presented once
    assert len(answers) == 2 and all(b"Neglect" in a for a in answers), answers  # both people answered
    # ... and every later request uses the rotated token without rotating again.
    assert b"Neglect" in oauth_bot.command("neglect", team=ONE, channel=CHANNEL[ONE]).body
    assert len([e for e in slack.oauth.exchanges if e.get("grant_type") == "refresh_token"]) == 1


GRID, IN_GRID, GRID_CHANNEL = "E0GRID", "T0INGRID", "C3GRID"


def org_keys(r: redis.Redis, org: str) -> dict[str, Any]:
    """Every key of the org, and its entries in the global indexes (installations, subscriptions, purges)."""
    found: dict[str, Any] = {k: r.dump(k) for k in r.scan_iter("*") if org in k}
    found.update({f"index:{e}": 1 for e in r.hkeys(keys.INSTALLATIONS) if org in e})
    found.update({f"index:{e}": 1 for e in r.smembers(keys.SUBSCRIPTIONS) | r.smembers(keys.PURGE_PENDING) if org in e})
    return found


def test_enterprise_grid_org_wide_install_answers_posts_and_uninstalls_through_http(
        oauth_bot: BotProcess, slack: FakeSlack, oauth_env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    # An Enterprise Grid admin installs the app for the whole org: Slack's answer names the org, no team.
    install(oauth_bot, slack, "code-org", None, enterprise_id=GRID, org=True)  # type: ignore[arg-type]
    install(oauth_bot, slack, "code-two", TWO)  # a separate, ordinary workspace
    org_grants = {t for t, g in slack.oauth.grants.items() if g.org and g.enterprise_id == GRID}
    assert org_grants

    # A workspace inside the org: answered, and the bot acts there with the org's token.
    org_cmd = {"team": IN_GRID, "enterprise": GRID, "org": True, "channel": GRID_CHANNEL}
    assert "Neglect" in dumps(oauth_bot.command("neglect", **org_cmd).json())
    sub = command_answer(oauth_bot, slack, "subscribe monday 09:30", user="U0LEAD", **org_cmd)
    assert sub["response_type"] == "in_channel", sub
    info = [c for c in slack.ok_calls("conversations.info") if c.params.get("channel") == GRID_CHANNEL]
    assert info and all(slack.oauth.grants[c.token].org and slack.oauth.grants[c.token].enterprise_id == GRID
                        for c in info)  # fmt: skip
    # An org that never installed the app is not answered.
    assert "Neglect" not in oauth_bot.command("neglect", team="T0OTHER", enterprise="E0OTHER", org=True).body.decode()
    assert command_answer(oauth_bot, slack, "subscribe monday 09:30", team=TWO, channel=CHANNEL[TWO],
                          user="U0LEAD")["response_type"] == "in_channel"  # fmt: skip

    # The weekly post for the workspace in the org goes out with the org's (rotated) token.
    tz = ZoneInfo("Europe/London")
    today = datetime.now(tz)
    monday = (today - timedelta(days=today.weekday())).replace(hour=9, minute=31, second=0, microsecond=0)
    out = run_due(oauth_env, monday)
    assert out.returncode == 0, out.stdout + out.stderr
    posts = {c.params["channel"]: c for c in slack.ok_calls("chat.postMessage")}
    assert set(posts) == {GRID_CHANNEL, CHANNEL[TWO]}
    grid_grant = slack.oauth.grants[posts[GRID_CHANNEL].token]
    assert grid_grant.org and grid_grant.enterprise_id == GRID and grid_grant.team_id is None
    assert slack.oauth.grants[posts[CHANNEL[TWO]].token].team_id == TWO

    # The org uninstalls: Slack revokes its tokens and tells the app about the org-wide installation.
    two_before = keys_of(shared_redis, TWO)
    assert org_keys(shared_redis, GRID)
    slack.oauth.uninstall(GRID)
    gone = oauth_bot.event({"type": "app_uninstalled"}, team=IN_GRID, enterprise=GRID, org=True, event_id="EvOrgGone")
    assert gone.status == 200
    deadline = time.monotonic() + 15
    while org_keys(shared_redis, GRID) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert org_keys(shared_redis, GRID) == {}, oauth_bot.log()[-3000:]
    assert keys_of(shared_redis, TWO) == two_before  # the separate workspace is untouched
    assert "Neglect" not in oauth_bot.command("neglect", **org_cmd).body.decode()  # no longer installed there
    run_due(oauth_env, monday + timedelta(days=7))
    assert [c.params["channel"] for c in slack.ok_calls("chat.postMessage")[2:]] == [CHANNEL[TWO]]
    assert org_keys(shared_redis, GRID) == {}


def test_knowledge_checks_and_digests_go_out_with_each_workspaces_own_token_and_never_for_an_uninstalled_one(
        oauth_bot: BotProcess, slack: FakeSlack, oauth_env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    three = "T0THREE"
    channel = {**CHANNEL, three: "C3THREE"}
    nurse = {ONE: "U1NURSE", TWO: "U2NURSE", three: "U3NURSE"}
    reader = {ONE: "U1READ", TWO: "U2READ", three: "U3READ"}
    for n, team in enumerate((ONE, TWO, three)):
        install(oauth_bot, slack, f"code-learn-{n}", team)
        where = {"team": team, "channel": channel[team]}
        assert command_answer(oauth_bot, slack, "subscribe monday 09:30", user="U0LEAD", **where)["response_type"] == "in_channel"
        assert "knowledge check" in dumps(command_answer(oauth_bot, slack, "quiz on", user=nurse[team], **where))
        slack.users[f"U0ADMIN{n}"] = {"id": f"U0ADMIN{n}", "name": "admin", "team_id": team, "is_admin": True}
        added = command_answer(oauth_bot, slack, f"digest add <@{reader[team]}>", user=f"U0ADMIN{n}", **where)
        assert "will get this workspace's learning digest" in dumps(added), added
    # Workspace three uninstalls: the bot deletes its tokens on the spot (``Purger.begin``, what the
    # app_uninstalled listener does before its ack); its data waits for the purge that follows.
    slack.oauth.uninstall(three)
    Purger(shared_redis).begin(Workspace(three))
    three_before = keys_of(shared_redis, three)
    assert any("quiz" in k for k in three_before) and any("digest" in k for k in three_before)
    calls_before = len(slack.calls)

    # The first Wednesday of next month, 11:00 in London: a knowledge-check day, and digest day.
    tz = ZoneInfo("Europe/London")
    first = (datetime.now(tz).replace(day=1) + timedelta(days=32)).replace(day=1, hour=11, minute=0, second=0, microsecond=0)
    wednesday = first + timedelta(days=(2 - first.weekday()) % 7)
    out = run_due(oauth_env, wednesday)
    for team in (ONE, TWO):
        assert re.search(rf"^quiz {nurse[team]}: sent", out.stdout, re.M), out.stdout + out.stderr
        assert re.search(rf"^digest {channel[team]} {reader[team]}: sent", out.stdout, re.M), out.stdout + out.stderr

    calls = slack.calls[calls_before:]

    def team_of(call: Any) -> str | None:
        grant = slack.oauth.grants.get(call.token)
        return grant.team_id if grant else None

    for team in (ONE, TWO):
        # Each person's DM was opened, and the check / the digest sent, with their own workspace's token.
        for user in (nurse[team], reader[team]):
            opened = [c for c in calls if c.method == "conversations.open" and c.params.get("users") == user]
            assert opened and {team_of(c) for c in opened} == {team}, user
        check = [c for c in calls if c.method == "chat.postMessage" and c.params.get("channel") == "D" + nurse[team]]
        assert len(check) == 1 and team_of(check[0]) == team
        digest = [c for c in calls if c.method == "files.completeUploadExternal"
                  and c.params.get("channel_id") == "D" + reader[team]]  # fmt: skip
        assert len(digest) == 1 and team_of(digest[0]) == team
    # The uninstalled workspace: nothing sent to anyone there, with any token, and nothing written for it.
    assert not [c for c in calls if team_of(c) == three]
    assert not [c for c in calls if str(c.params.get("users", "")) in (nurse[three], reader[three])]
    assert keys_of(shared_redis, three) == three_before

    # The clock's sweep does the same the next day (a knowledge-check day); it first finishes the
    # uninstalled workspace's purge, so nothing of it is left at all.
    from bot.config import load_settings
    from bot.ops.clock import Clock
    from bot.services import Services
    from bot.slack.app import make_client

    services = Services.create(load_settings(oauth_env, dotenv=False))
    calls_before = len(slack.calls)
    try:
        Clock(services, make_client(None, slack.url), clock=lambda: wednesday + timedelta(days=1)).sweep()
    finally:
        services.store.close()
    calls = slack.calls[calls_before:]
    for team in (ONE, TWO):
        check = [c for c in calls if c.method == "chat.postMessage" and c.params.get("channel") == "D" + nurse[team]]
        assert len(check) == 1 and team_of(check[0]) == team
    assert not [c for c in calls if team_of(c) == three or c.params.get("users") in (nurse[three], reader[three])]
    assert keys_of(shared_redis, three) == {}
