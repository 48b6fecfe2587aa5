"""Microsoft Teams end to end: the bot as a process (``scr-bot run``), real Redis, and Teams faked at its HTTP
boundary (tests/fake_teams.py) with activities signed as the Bot Connector signs them.

Every promise has the fault that would break it: forged, expired, wrong-audience and wrong-serviceUrl tokens
(401, nothing stored, nothing sent); install stores the reference; a personal-chat lookup shows the points
Slack's ``/scr neglect`` shows; a weekly post exactly once, also after a lost answer; uninstall purges.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import warmstart

from bot.slack.blocks import ACTION_SHARE, ACTION_SHOW
from bot.storage import keys
from bot.teams.cards import escape, points_shown
from conftest import ROOT, BotProcess, bot_env, command_answer, free_port, http, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams, new_key
from fakeslack import FakeSlack

APP_ID = "00000000-0000-0000-0000-000000000a99"
TENANT = "72f988bf-0000-0000-0000-000000000001"
TEAM = "19:team-general@thread.tacv2"
GROUP = "aad-group-0001"
WS = keys.Workspace(TENANT, platform="teams")


@pytest.fixture(scope="module")
def env(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("teams")
    return bot_env(module_slack, redis_server.url, tmp, **teams.env())


@pytest.fixture(scope="module")
def teams_bot(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    tmp = tmp_path_factory.mktemp("teamsbot")
    proc = start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def send(bot: BotProcess, activity: dict[str, Any], token: str | None) -> Any:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    return http("POST", bot.url + "/api/messages", json.dumps(activity), headers)


def teams_keys(r: redis.Redis) -> list[str]:
    return sorted(r.scan_iter(match=f"{WS.tag}:*"))


# ----- security --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["none", "forged", "expired", "audience", "service_url", "issuer"])
def test_a_token_that_does_not_hold_is_refused_and_nothing_is_stored(fault: str, teams_bot: BotProcess,
                                                                     teams: FakeTeams, shared_redis: redis.Redis) -> None:
    act = teams.channel_added(TEAM, GROUP)
    token = {
        "none": None,
        "forged": teams.token_for(act, key=new_key()),  # same kid, another key
        "expired": teams.token_for(act, expires_in=-600),  # past the 5 minutes' leeway
        "audience": teams.token_for(act, audience="another-app"),
        "service_url": teams.token_for(act, service_url="https://evil.example/"),
        "issuer": teams.token_for(act, issuer="https://sts.windows.net/evil/"),
    }[fault]
    resp = send(teams_bot, act, token)
    assert resp.status == 401, resp.body
    assert b"eyJ" not in resp.body and (token is None or token not in teams_bot.log())  # no token echoed or logged
    # A valid activity right after is stored, so "nothing stored" above is not a slow write.
    ok = teams.channel_added("19:probe@thread.tacv2", GROUP)
    assert send(teams_bot, ok, teams.token_for(ok)).status == 200
    wait_for(lambda: shared_redis.hexists(keys.teams_conversations(WS), "19:probe@thread.tacv2"))
    assert not shared_redis.hexists(keys.teams_conversations(WS), TEAM)
    # The probe's install ends with its welcome card settled: wait for that too, or its last writes (the install,
    # the welcome's claim) could land after this test's keys are cleared, in the next test's.
    wait_for(lambda: (json.loads(shared_redis.get(keys.teams_welcome(WS, "19:probe@thread.tacv2")) or "{}")
                      .get("state") in ("done", "failed")))  # fmt: skip


def test_install_stores_the_reference_and_a_personal_lookup_answers_as_slack_does(
        teams_bot: BotProcess, teams: FakeTeams, module_slack: FakeSlack, shared_redis: redis.Redis) -> None:  # fmt: skip
    act = teams.channel_added(TEAM, GROUP)
    assert send(teams_bot, act, teams.token_for(act)).status == 200
    ref = json.loads(wait_for(lambda: shared_redis.hget(keys.teams_conversations(WS), TEAM)))
    assert ref == {"conversation": TEAM, "service_url": teams.service_url, "tenant": TENANT, "scope": "team",
                   "team": TEAM, "aad_group": GROUP, "user": None, "timezone": None, "installed": False}  # fmt: skip
    # The install itself is kept apart from the reference, where only install and removal write it.
    wait_for(lambda: shared_redis.smembers(keys.teams_installs(WS)) == {f"team:{TEAM}"})  # written after the reference

    ask = teams.personal_message("neglect")
    assert send(teams_bot, ask, teams.token_for(ask)).status == 200
    reply = wait_for(lambda: teams.replies_to(ask["id"]))[0]
    shown = points_shown(reply)
    assert len(shown) >= 2 and reply["text"]  # a plain-text fallback for screen readers
    slack = command_answer(teams_bot, module_slack, "neglect")
    top = next(e["value"] for b in slack["blocks"] if b.get("type") == "actions" for e in b["elements"]
               if e.get("action_id") == ACTION_SHARE)  # fmt: skip
    rest = [b["text"]["text"] for b in slack["blocks"] if (b.get("accessory") or {}).get("action_id") == ACTION_SHOW]
    assert shown[0] == top
    from bot.content.corpus import load_corpus

    corpus = load_corpus(ROOT / "content")
    assert len(shown[1:]) == len(rest)
    for pid, line in zip(shown[1:], rest, strict=True):
        assert corpus.by_id[pid].title.split(" ")[0] in line


def test_a_live_concern_in_a_channel_mention_gets_the_safety_net_first(teams_bot: BotProcess, teams: FakeTeams) -> None:
    ask = teams.base({"id": f"{TEAM};messageid=1", "conversationType": "channel"}, type="message",
                     text="<at>scr</at> a pupil told me her stepdad hits her",
                     entities=[{"type": "mention", "text": "<at>scr</at>", "mentioned": {"id": f"28:{APP_ID}"}}])  # fmt: skip
    ask["channelData"].update(team={"id": TEAM, "aadGroupId": GROUP}, channel={"id": TEAM})
    assert send(teams_bot, ask, teams.token_for(ask)).status == 200
    reply = wait_for(lambda: teams.replies_to(ask["id"]))[0]
    first = reply["attachments"][0]["content"]["body"][0]
    from bot.content.corpus import load_corpus

    assert first["text"] == escape(load_corpus(ROOT / "content").safety.title)  # type: ignore[union-attr]


# ----- the weekly post, exactly once ---------------------------------------------------------------------
def run_due(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return warmstart.run([sys.executable, "-m", "bot", "schedule", "run-due"], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def subscribe(r: redis.Redis, channel: str) -> str:
    from bot.weekly.schedules import Schedule, Subscriptions
    from conftest import cron_due_a_minute_ago

    schedule = Schedule(id=f"teams-{channel.split('@')[0][3:]}", team=TENANT, channel=channel, post=cron_due_a_minute_ago(),
                        source="teams", platform="teams")  # fmt: skip
    Subscriptions(r).save(schedule)
    return schedule.id


def installed(bot: BotProcess, teams: FakeTeams, r: redis.Redis, channel: str) -> None:
    act = teams.channel_added(channel, GROUP)
    assert send(bot, act, teams.token_for(act)).status == 200
    wait_for(lambda: r.hexists(keys.teams_conversations(WS), channel))
    wait_for(lambda: any(kind(p) == "welcome" for p in teams.posts_in(channel)))  # its welcome card is out of the way


def kind(post: dict[str, Any]) -> str | None:
    return ((post["activity"].get("channelData") or {}).get("scr") or {}).get("kind")


def weekly_posts(teams: FakeTeams, channel: str) -> list[dict[str, Any]]:
    """The channel's posts but its welcome card (tests/test_teams_welcome.py)."""
    return teams.weekly_posts(channel)


def test_a_weekly_post_reaches_a_teams_channel_exactly_once(teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str],
                                                           shared_redis: redis.Redis) -> None:
    channel = "19:weekly-once@thread.tacv2"
    installed(teams_bot, teams, shared_redis, channel)
    sid = subscribe(shared_redis, channel)
    first = run_due(env)
    assert f"{sid} " in first.stdout and ": posted" in first.stdout, first.stdout + first.stderr
    again = run_due(env)
    assert ": already" in again.stdout or sid not in again.stdout, again.stdout + again.stderr
    posts = weekly_posts(teams, channel)
    assert len(posts) == 1
    card = posts[0]["activity"]
    assert card["text"].startswith("Learning point of the week") and card["channelData"]["scr"]["key"]


def test_after_a_lost_answer_the_post_is_found_in_graph_not_made_again(teams_bot: BotProcess, teams: FakeTeams,
                                                                      env: dict[str, str], shared_redis: redis.Redis) -> None:
    channel = "19:weekly-lost@thread.tacv2"
    installed(teams_bot, teams, shared_redis, channel)
    # Other posts in the window, so the search pages through Graph (two messages a page) before it finds ours.
    for n in range(3):
        other = f"19:noise-{n}@thread.tacv2"
        installed(teams_bot, teams, shared_redis, other)
    sid = subscribe(shared_redis, channel)
    teams.lose_posts = 1
    outcomes = run_due(env).stdout + run_due(env).stdout + run_due(env).stdout
    assert len(weekly_posts(teams, channel)) == 1, outcomes
    assert f"{sid} " in outcomes and ("recovered" in outcomes), outcomes


def test_when_graph_cannot_be_read_a_lost_post_is_reported_never_made_twice(teams_bot: BotProcess, teams: FakeTeams,
                                                                           env: dict[str, str], shared_redis: redis.Redis) -> None:
    channel = "19:weekly-norsc@thread.tacv2"
    installed(teams_bot, teams, shared_redis, channel)
    sid = subscribe(shared_redis, channel)
    teams.lose_posts = 1
    teams.graph_refuse = True  # no ChannelMessage.Read.Group consent
    try:
        outcomes = run_due(env).stdout + run_due(env).stdout
    finally:
        teams.graph_refuse = False
    assert len(weekly_posts(teams, channel)) == 1, outcomes
    assert f"{sid} " in outcomes and "ChannelMessage.Read.Group" in outcomes, outcomes
    # ... and the operator sees it: `schedule list` names the error until a post succeeds, not "ok".
    listed = warmstart.run([sys.executable, "-m", "bot", "schedule", "list"], env=env, cwd=str(ROOT),
                            capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    lines = listed.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith(f"{sid} ")]
    status = lines[start + 2]  # "<id> ...", "    next: ...", "    last post: ...   status: ..."
    assert "status: error: teams_history_unreadable" in status and "will retry" in status, listed


# ----- uninstall ----------------------------------------------------------------------------------------
def test_removing_the_bot_from_its_last_team_purges_the_tenant(teams_bot: BotProcess, teams: FakeTeams,
                                                              shared_redis: redis.Redis) -> None:
    installed(teams_bot, teams, shared_redis, TEAM)
    subscribe(shared_redis, TEAM)
    teams_left = {json.loads(v)["team"] for v in shared_redis.hvals(keys.teams_conversations(WS))}
    for team in sorted(teams_left - {TEAM}):
        gone = teams.channel_removed(team, GROUP)
        assert send(teams_bot, gone, teams.token_for(gone)).status == 200
    wait_for(lambda: shared_redis.hlen(keys.teams_conversations(WS)) == 1)
    assert teams_keys(shared_redis), "one team left: nothing purged yet"
    gone = teams.channel_removed(TEAM, GROUP)
    assert send(teams_bot, gone, teams.token_for(gone)).status == 200
    wait_for(lambda: not teams_keys(shared_redis))
    assert not [e for e in shared_redis.smembers(keys.SUBSCRIPTIONS) if e.startswith("teams|")]


def test_what_a_person_typed_is_escaped_when_the_answer_echoes_it(teams_bot: BotProcess, teams: FakeTeams) -> None:
    ask = teams.personal_message("[click here](https://evil.example) **zzqxv**")
    assert send(teams_bot, ask, teams.token_for(ask)).status == 200
    reply = wait_for(lambda: teams.replies_to(ask["id"]))[0]
    body = json.dumps(reply["attachments"][0]["content"]["body"])
    assert "zzqxv" in body, body  # echoed...
    assert "[click here](" not in body and "**zzqxv**" not in body  # ...but never as a link or bold
