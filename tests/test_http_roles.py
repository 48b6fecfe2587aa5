"""Who may change a channel's weekly post, its digest readers and the bot's admins, and the audit trail.

The real bot over signed HTTP with a real Redis; the local Slack says who is a workspace admin or owner
(``users.info``). A member who is neither the channel's lead nor an admin is refused every change and
told who can, and nothing changes; the lead, a workspace admin and someone on the bot's admin list can;
the environment's lists grant nothing in a many-workspace install; each allowed change is in the audit
trail (``/scr audit``, ``scr-bot audit``) and no refusal is.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import warmstart
from test_http_distribution import install

from bot.learning.digest_sender import DigestReaders
from bot.storage import keys
from bot.storage.roles import AdminList, AuditTrail
from bot.storage.store import Workspace
from bot.weekly.schedules import Subscriptions
from conftest import (
    ROOT,
    BotProcess,
    RedisServer,
    bot_env,
    command_answer,
    free_port,
    start_bot,
    stop_bot,
    wait_for,
)
from fakeslack import FakeSlack

TEAM = "T0AAA"
WS = Workspace(TEAM)
LEAD, MEMBER, READER = "U0LEAD", "U0MEMBER", "U0READER"
WS_ADMIN, OWNER, LISTED, SLOW_ADMIN = "U0WSADMIN", "U0OWNER", "U0LISTED", "U0SLOWADMIN"
ENV_ADMIN, ENV_READER = "U0ENVADMIN", "U0ENVREADER"


@pytest.fixture(scope="module")
def roles_slack() -> Iterator[FakeSlack]:
    server = FakeSlack().serve()
    server.users[WS_ADMIN] = {"id": WS_ADMIN, "name": "admin", "team_id": TEAM, "is_admin": True}
    server.users[SLOW_ADMIN] = {"id": SLOW_ADMIN, "name": "slow", "team_id": TEAM, "is_primary_owner": True}
    server.users[OWNER] = {"id": OWNER, "name": "owner", "team_id": TEAM, "is_owner": True, "is_admin": False}
    yield server
    server.close()


@pytest.fixture(scope="module")
def roles_bot(roles_slack: FakeSlack, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """A single-workspace install, with an operator-named admin and digest reader."""
    tmp = tmp_path_factory.mktemp("roles")
    env = bot_env(roles_slack, redis_server.url, tmp, SCR_ADMINS=ENV_ADMIN, SCR_DIGEST_USERS=ENV_READER)
    proc = start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port())
    yield proc
    stop_bot(proc)


@pytest.fixture
def r(shared_redis: redis.Redis) -> redis.Redis:
    return shared_redis


def say(bot: BotProcess, slack: FakeSlack, text: str, user: str, channel: str) -> str:
    """`/scr text` typed by ``user`` in ``channel``: the answer's text, however it came."""
    return command_answer(bot, slack, text, user=user, channel=channel)["text"]


def trail(r: redis.Redis) -> list[tuple[str, str, str, str]]:
    """The audit trail, oldest first: (who, as what, action, channel)."""
    return [(e.by, e.role, e.action, e.channel) for e in AuditTrail(r).since(WS, 0)]


def test_a_member_is_refused_every_change_told_who_can_and_nothing_changes(roles_bot: BotProcess, roles_slack: FakeSlack,
                                                                           r: redis.Redis) -> None:  # fmt: skip
    channel = "C0REFUSE"
    assert "set up a weekly learning point" in say(roles_bot, roles_slack, "subscribe health monday 09:30", LEAD, channel)
    assert "will get this workspace's learning digest" in say(roles_bot, roles_slack, f"digest add <@{READER}>", WS_ADMIN, channel)
    before = Subscriptions(r).get(WS, channel)
    readers_before = DigestReaders(r).readers(WS)
    trail_before = trail(r)
    lead_or_admins = f"Only <@{LEAD}>, workspace admins, or the bot's admins (`/scr admins`) can"
    admins_only = "Only workspace admins or the bot's admins (`/scr admins`) can"

    # The old takeover: re-subscribing made the member the lead; and then anything went.
    for user, text, who, what in (
        (MEMBER, "subscribe friday 14:00", lead_or_admins, "change this channel's weekly post"),
        (MEMBER, "unsubscribe", lead_or_admins, "stop this channel's weekly post"),
        (MEMBER, f"digest add <@{MEMBER}>", admins_only, "change who gets this workspace's digest"),
        (MEMBER, f"digest remove <@{READER}>", admins_only, "change who gets this workspace's digest"),
        (READER, f"digest add <@{MEMBER}>", admins_only, "change who gets this workspace's digest"),  # a reader is not an admin
        (ENV_READER, f"digest remove <@{READER}>", admins_only, "change who gets this workspace's digest"),  # nor is the env's reader
        (LEAD, f"digest add <@{MEMBER}>", admins_only, "change who gets this workspace's digest"),  # readers are the workspace's
    ):
        answer = say(roles_bot, roles_slack, text, user, channel)
        assert answer == f"{who} {what}.", (text, answer)
    answer = say(roles_bot, roles_slack, f"admins add <@{MEMBER}>", MEMBER, channel)
    assert answer == "Only workspace admins or the bot's admins (`/scr admins`) can change the bot's admin list."
    answer = say(roles_bot, roles_slack, "audit", LEAD, channel)  # a lead runs a channel, not the workspace
    assert answer == "Only workspace admins or the bot's admins (`/scr admins`) can read the record of changes."

    assert Subscriptions(r).get(WS, channel) == before  # same schedule, same lead
    assert DigestReaders(r).readers(WS) == readers_before
    assert AdminList(r).members(WS) == []
    assert trail(r) == trail_before  # refusals change nothing, so they are not recorded
    assert trail(r) == [(LEAD, "lead", "subscribe", channel), (WS_ADMIN, "workspace admin", "digest-add", channel)]


def test_the_lead_a_workspace_admin_and_the_bots_admins_can_and_each_change_is_recorded(
        roles_bot: BotProcess, roles_slack: FakeSlack, r: redis.Redis, redis_server: RedisServer, tmp_path: Path) -> None:  # fmt: skip
    channel = "C0ALLOW"
    started = time.time()
    assert "set up" in say(roles_bot, roles_slack, "subscribe health sudi monday 09:30", LEAD, channel)
    assert "updated" in say(roles_bot, roles_slack, "subscribe health sudi friday 14:00", LEAD, channel)
    # A workspace admin (Slack says so) changes it: the channel stays its lead's.
    assert "updated" in say(roles_bot, roles_slack, "subscribe health sudi tuesday 08:45", WS_ADMIN, channel)
    saved = Subscriptions(r).get(WS, channel)
    assert (saved.post, saved.created_by) == ("45 8 * * tue", LEAD)
    assert "will get" in say(roles_bot, roles_slack, f"digest add <@{READER}>", WS_ADMIN, channel)
    # The workspace's owner names a bot admin; the operator's admin (single workspace) names another.
    assert "now one of the bot's admins" in say(roles_bot, roles_slack, f"admins add <@{LISTED}|listed>", OWNER, channel)
    assert "now one of the bot's admins" in say(roles_bot, roles_slack, "admins add <@U0SECOND>", ENV_ADMIN, channel)
    listed = say(roles_bot, roles_slack, "admins", MEMBER, channel)
    assert f"<@{LISTED}>" in listed and f"<@{ENV_ADMIN}>" in listed and "<@U0SECOND>" in listed
    # Someone on the list manages readers, the list, and stops the post.
    assert "no longer get" in say(roles_bot, roles_slack, f"digest remove <@{READER}>", LISTED, channel)
    assert "no longer one of the bot's admins" in say(roles_bot, roles_slack, "admins remove <@U0SECOND>", LISTED, channel)
    assert "named by whoever runs the bot" in say(roles_bot, roles_slack, f"admins remove <@{ENV_ADMIN}>", LISTED, channel)
    assert "stopped" in say(roles_bot, roles_slack, "unsubscribe", LISTED, channel)
    assert Subscriptions(r).get(WS, channel) is None and DigestReaders(r).readers(WS) == []
    assert AdminList(r).members(WS) == [LISTED]

    expected = [
        (LEAD, "lead", "subscribe", channel), (LEAD, "lead", "resubscribe", channel),
        (WS_ADMIN, "workspace admin", "resubscribe", channel), (WS_ADMIN, "workspace admin", "digest-add", channel),
        (OWNER, "workspace admin", "admins-add", channel), (ENV_ADMIN, "bot admin", "admins-add", channel),
        (LISTED, "bot admin", "digest-remove", channel), (LISTED, "bot admin", "admins-remove", channel),
        (LISTED, "bot admin", "unsubscribe", channel),
    ]  # fmt: skip
    assert trail(r) == expected
    key = keys.audit(WS)
    assert 0 < r.ttl(key) <= keys.AUDIT_SECONDS and r.ttl(key) > keys.AUDIT_SECONDS - 60  # bounded, from the last change

    # In Slack, newest first, for admins; what was typed or named is shown escaped.
    shown = say(roles_bot, roles_slack, "audit", LISTED, channel)
    lines = shown.splitlines()
    assert lines[0].startswith("*The last 9 changes here*")
    assert f"<@{LISTED}> (bot admin) unsubscribe in <#{channel}>" in lines[1]
    assert f"<@{LEAD}> (lead) subscribe in <#{channel}>: Monday 09:30 (Europe/London); Health, SUDI &amp; safer sleep" in lines[-1]
    assert "<!date^" in lines[1] and "& " not in shown
    assert len(say(roles_bot, roles_slack, "audit 2", WS_ADMIN, channel).splitlines()) == 3

    # The operator's CLI: every change since a day, oldest first; nothing after tomorrow.
    env = bot_env(roles_slack, redis_server.url, tmp_path)
    day = datetime.fromtimestamp(started, UTC).date().isoformat()
    out = warmstart.run([sys.executable, "-m", "bot", "audit", "--team", TEAM, "--since", day], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    printed = out.stdout.splitlines()
    assert len(printed) == len(expected)
    for line, (by, role, action, where) in zip(printed, expected, strict=True):
        assert f"  {by} ({role})  {action} {where}" in line, line
    assert f"<@{READER}>" in printed[3] and "Health, SUDI & safer sleep" in printed[0]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    later = warmstart.run([sys.executable, "-m", "bot", "audit", "--team", TEAM, "--since", tomorrow], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert later.returncode == 0 and later.stdout == "" and "no changes recorded" in later.stderr
    bad = warmstart.run([sys.executable, "-m", "bot", "audit", "--team", TEAM, "--since", "last week"], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "--since" in bad.stderr


def test_leading_a_new_channel_grants_nothing_beyond_it(roles_bot: BotProcess, roles_slack: FakeSlack,
                                                        r: redis.Redis) -> None:  # fmt: skip
    """The takeover the per-workspace readers opened: a member subscribes an empty channel (anyone may, and
    becomes its lead), then, as "lead", names themselves a reader of every channel's digest and drops the
    real readers. Leading a channel is that channel's schedule, nothing of the workspace's."""
    real, throwaway, taker = "C0REALTEAM", "C0THROWAWAY", "U0TAKER"
    assert "set up" in say(roles_bot, roles_slack, "subscribe monday 09:30", LEAD, real)
    assert "will get" in say(roles_bot, roles_slack, f"digest add <@{READER}>", WS_ADMIN, real)
    assert "set up a weekly learning point" in say(roles_bot, roles_slack, "subscribe tuesday 10:00", taker, throwaway)
    readers_before, trail_before = DigestReaders(r).readers(WS), trail(r)
    assert READER in readers_before and taker not in readers_before

    admins_only = "Only workspace admins or the bot's admins (`/scr admins`) can"
    for text, what in ((f"digest add <@{taker}>", "change who gets this workspace's digest"),
                       (f"digest remove <@{READER}>", "change who gets this workspace's digest"),
                       (f"admins add <@{taker}>", "change the bot's admin list"),
                       ("settings timezone Asia/Tokyo", "see or change this workspace's settings"),
                       ("audit", "read the record of changes")):  # fmt: skip
        assert say(roles_bot, roles_slack, text, taker, throwaway) == f"{admins_only} {what}.", text
    assert say(roles_bot, roles_slack, "digest list", taker, throwaway).startswith("The digest is for this workspace's")
    assert DigestReaders(r).readers(WS) == readers_before and AdminList(r).members(WS) == []
    assert trail(r) == trail_before

    # Their own channel stays theirs: its schedule, its figures (without the readers' names), stopping it.
    assert "updated" in say(roles_bot, roles_slack, "subscribe wednesday 10:00", taker, throwaway)
    own = say(roles_bot, roles_slack, "digest", taker, throwaway)
    assert "Participation" in own and f"<@{READER}>" not in own
    assert say(roles_bot, roles_slack, "digest", taker, real).startswith("The digest is for this workspace's")
    assert "stopped" in say(roles_bot, roles_slack, "unsubscribe", taker, throwaway)
    assert [a for by, _, a, c in trail(r)[len(trail_before):]] == ["resubscribe", "unsubscribe"]


EXT_ADMIN, EXT_LISTED = "U0EXTADMIN", "U0EXTLISTED"


def test_admins_of_another_workspace_have_no_rights_here(roles_bot: BotProcess, roles_slack: FakeSlack,
                                                         r: redis.Redis) -> None:  # fmt: skip
    """``users.info``'s is_admin is about the person's own workspace: an admin of another organisation in a
    Slack Connect channel is no admin here, cannot be put on this workspace's admin list, and an entry for
    them on it (left by an older version) grants nothing."""
    channel = "C0SHARED"
    roles_slack.users[EXT_ADMIN] = {"id": EXT_ADMIN, "name": "ext", "team_id": "T0BBB", "is_admin": True, "is_owner": True}
    roles_slack.users[EXT_LISTED] = {"id": EXT_LISTED, "name": "ext2", "team_id": "T0BBB"}
    assert "set up" in say(roles_bot, roles_slack, "subscribe monday 09:30", LEAD, channel)
    before, readers_before, trail_before = Subscriptions(r).get(WS, channel), DigestReaders(r).readers(WS), trail(r)

    admins_only = "Only workspace admins or the bot's admins (`/scr admins`) can"
    for text, what in ((f"admins add <@{EXT_ADMIN}>", "change the bot's admin list"),
                       ("settings timezone Asia/Tokyo", "see or change this workspace's settings"),
                       (f"digest add <@{EXT_ADMIN}>", "change who gets this workspace's digest"),
                       ("audit", "read the record of changes")):  # fmt: skip
        assert say(roles_bot, roles_slack, text, EXT_ADMIN, channel) == f"{admins_only} {what}.", text
    assert say(roles_bot, roles_slack, "unsubscribe", EXT_ADMIN, channel).startswith(f"Only <@{LEAD}>, workspace admins")
    # A real admin here cannot make them one of the bot's admins either.
    refused = say(roles_bot, roles_slack, f"admins add <@{EXT_ADMIN}>", WS_ADMIN, channel)
    assert refused.startswith(f"Nothing changed: <@{EXT_ADMIN}> is not a member of this workspace"), refused
    # An entry an older version let in grants nothing.
    AdminList(r).add(WS, EXT_LISTED)
    assert say(roles_bot, roles_slack, "audit", EXT_LISTED, channel) == f"{admins_only} read the record of changes."
    AdminList(r).remove(WS, EXT_LISTED)
    assert Subscriptions(r).get(WS, channel) == before and DigestReaders(r).readers(WS) == readers_before
    assert AdminList(r).members(WS) == [] and trail(r) == trail_before
    # Enterprise Grid (the token's org counts, not one a body names): tests/test_http_single_token.py.


def test_asking_slack_who_is_an_admin_waits_until_after_the_ack_and_is_cached(roles_bot: BotProcess,
                                                                              roles_slack: FakeSlack,
                                                                              r: redis.Redis) -> None:  # fmt: skip
    channel = "C0SLOWADM"
    assert "set up" in say(roles_bot, roles_slack, "subscribe monday 09:30", LEAD, channel)
    roles_slack.delay["users.info"] = 2.0
    try:
        url = roles_slack.response_url()
        started = time.monotonic()
        resp = roles_bot.command(f"digest add <@{READER}>", user=SLOW_ADMIN, channel=channel, response_url=url)
        took = time.monotonic() - started
        assert resp.status == 200 and took < 1.5, f"ack took {took:.2f} s"
        added = wait_for(lambda: next((x for x in roles_slack.responses if x.get("_url") == url), None))
        assert "will get" in added["text"]  # the answer came after the ack, once Slack had answered
        answer = command_answer(roles_bot, roles_slack, f"digest remove <@{READER}>", user=SLOW_ADMIN, channel=channel)
    finally:
        roles_slack.delay.clear()
    assert "no longer get" in answer["text"]
    asked = [c for c in roles_slack.calls_to("users.info") if c.params.get("user") == SLOW_ADMIN]
    assert len(asked) == 1  # the second change was decided from the cache
    assert [a for _, _, a, c in trail(r) if c == channel] == ["subscribe", "digest-add", "digest-remove"]


# ----- a many-workspace install: the environment's lists reach no workspace ----------------------------------
@pytest.fixture
def oauth_roles_bot(slack: FakeSlack, redis_server: RedisServer, tmp_path: Path, shared_redis: redis.Redis) -> Iterator[BotProcess]:
    env = bot_env(slack, redis_server.url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                  SLACK_CLIENT_SECRET=slack.oauth.client_secret, SCR_ADMINS=ENV_ADMIN, SCR_DIGEST_USERS=ENV_READER)  # fmt: skip
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def test_scr_admins_and_digest_users_grant_nothing_in_a_many_workspace_install(oauth_roles_bot: BotProcess,
                                                                                slack: FakeSlack,
                                                                                r: redis.Redis) -> None:  # fmt: skip
    team, channel = "T0OTHERORG", "C0OTHER"
    ws = Workspace(team)
    install(oauth_roles_bot, slack, "code-roles", team)

    def say_there(text: str, user: str) -> str:
        return command_answer(oauth_roles_bot, slack, text, team=team, user=user, channel=channel)["text"]

    assert "set up" in say_there("subscribe monday 09:30", LEAD)
    DigestReaders(r).add(ws, READER)
    refused = f"Only <@{LEAD}>, workspace admins, or the bot's admins (`/scr admins`) can"
    assert say_there("subscribe friday 14:00", ENV_ADMIN).startswith(refused)
    assert say_there("unsubscribe", ENV_ADMIN).startswith(refused)
    assert say_there(f"digest remove <@{READER}>", ENV_ADMIN).startswith("Only workspace admins or the bot's admins")
    assert say_there(f"admins add <@{ENV_ADMIN}>", ENV_ADMIN).startswith("Only workspace admins or the bot's admins")
    assert say_there("audit", ENV_ADMIN).startswith("Only workspace admins or the bot's admins")
    assert f"<@{ENV_ADMIN}>" not in say_there("admins", MEMBER)
    # The operator's digest reader is nobody's reader in another organisation's workspace.
    assert say_there("digest", ENV_READER).startswith("The digest is for this workspace's digest readers")
    assert DigestReaders(r).readers(ws) == [READER]
    saved = Subscriptions(r).get(ws, channel)
    assert (saved.post, saved.created_by) == ("30 9 * * mon", LEAD)
    assert [(e.by, e.action) for e in AuditTrail(r).since(ws, 0)] == [(LEAD, "subscribe")]


# ----- the trail's bounds, and forgetting a workspace ---------------------------------------------------------
def test_the_trail_is_bounded_in_age_and_length_and_a_purge_takes_it_and_the_list(redis_client: redis.Redis) -> None:
    from bot.storage.purge import Purger
    from bot.storage.roles import AuditEntry

    audit, ws, other = AuditTrail(redis_client), Workspace("T0PURGE"), Workspace("T0KEEP")
    now = time.time()
    audit.record(ws, AuditEntry(at=now - keys.AUDIT_SECONDS - 60, by=LEAD, role="lead", action="subscribe", channel="C1"))
    audit.record(ws, AuditEntry(at=now, by=LEAD, role="lead", action="unsubscribe", channel="C1"))
    assert [e.action for e in audit.since(ws, 0)] == ["unsubscribe"]  # older than 400 days: gone on the next write
    assert redis_client.zcard(keys.audit(ws)) == 1
    for i in range(keys.AUDIT_MAX_ENTRIES + 5):
        audit.record(ws, AuditEntry(at=now + i, by=LEAD, role="lead", action="digest-add", channel="C1", detail=str(i)))
    assert redis_client.zcard(keys.audit(ws)) == keys.AUDIT_MAX_ENTRIES  # the oldest went first
    assert audit.recent(ws, 1)[0].detail == str(keys.AUDIT_MAX_ENTRIES + 4)
    AdminList(redis_client).add(ws, LISTED)
    audit.record(other, AuditEntry(at=now, by=LEAD, role="lead", action="subscribe", channel="C2"))
    Purger(redis_client).purge(ws)
    assert not redis_client.exists(keys.audit(ws)) and not redis_client.exists(keys.admins(ws))
    assert [e.channel for e in audit.since(other, 0)] == ["C2"]  # another workspace's trail stays


STRANGER, EXT_READER, UNKNOWN = "U0STRANGER", "U0EXTREADER", "U0NOSUCH"


def test_only_the_workspaces_own_members_can_be_made_digest_readers(roles_bot: BotProcess, roles_slack: FakeSlack,
                                                                   r: redis.Redis) -> None:  # fmt: skip
    """``/scr digest add`` grants a person every channel's monthly digest, so, like ``/scr admins add``, it is
    for this workspace's own members: a person from another organisation in a shared channel, someone Slack
    marks a stranger, or an id Slack does not know is refused with the same words, and nothing is added or
    recorded. A member still can be added."""
    channel = "C0DIGESTADD"
    roles_slack.users[EXT_READER] = {"id": EXT_READER, "name": "extr", "team_id": "T0BBB"}
    roles_slack.users[STRANGER] = {"id": STRANGER, "name": "str", "team_id": TEAM, "is_stranger": True}
    readers_before, trail_before = DigestReaders(r).readers(WS), trail(r)
    for who in (EXT_READER, STRANGER):
        refused = say(roles_bot, roles_slack, f"digest add <@{who}>", WS_ADMIN, channel)
        assert refused == (f"Nothing changed: <@{who}> is not a member of this workspace (a guest from another "
                           "organisation, say), and only its own members can get its digest here."), refused
    roles_slack.fail("users.info", status=200, error="user_not_found", retry_after=None)
    refused = say(roles_bot, roles_slack, f"digest add <@{UNKNOWN}>", WS_ADMIN, channel)
    assert refused.startswith(f"Nothing changed: Slack didn't say whether <@{UNKNOWN}> is a member"), refused
    assert DigestReaders(r).readers(WS) == readers_before and trail(r) == trail_before
    assert "will get this workspace's learning digest" in say(roles_bot, roles_slack, f"digest add <@{READER}>",
                                                              WS_ADMIN, channel)  # fmt: skip
    assert READER in DigestReaders(r).readers(WS)
    assert say(roles_bot, roles_slack, f"digest remove <@{READER}>", WS_ADMIN, channel).endswith("no longer get this workspace's digest.")
