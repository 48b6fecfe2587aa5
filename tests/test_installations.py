"""The Redis installation and OAuth state stores, on a single server and on a real Redis Cluster."""

from __future__ import annotations

import time

import redis
from slack_sdk.oauth.installation_store import Installation

from bot.slack.installations import RedisInstallationStore, RedisOAuthStateStore


def installation(team: str | None = "T0ONE", *, user: str = "U0INSTALLER", enterprise: str | None = None,
                 bot_token: str = "xoxb-one", user_token: str | None = None, org: bool = False,
                 rotating: bool = False, installed_at: float | None = None) -> Installation:  # fmt: skip
    return Installation(
        app_id="A0SCR", enterprise_id=enterprise, team_id=team, team_name=f"Team {team}", user_id=user,
        bot_token=bot_token, bot_id="B0BOT", bot_user_id="U0BOT", bot_scopes="commands,chat:write",
        bot_refresh_token="xoxe-1-refresh" if rotating else None,
        bot_token_expires_in=43200 if rotating else None, user_token=user_token,
        user_scopes="identity.basic" if user_token else None, is_enterprise_install=org,
        installed_at=installed_at,
    )  # fmt: skip


def test_save_then_find_bot_and_installation(any_redis: redis.Redis) -> None:
    store = RedisInstallationStore(any_redis)
    store.save(installation(rotating=True))
    bot = store.find_bot(enterprise_id=None, team_id="T0ONE")
    assert bot is not None and bot.bot_token == "xoxb-one"
    assert bot.bot_refresh_token == "xoxe-1-refresh" and bot.bot_token_expires_at > time.time() + 40000
    found = store.find_installation(enterprise_id=None, team_id="T0ONE")
    assert found is not None and found.user_id == "U0INSTALLER" and found.bot_scopes == ["commands", "chat:write"]
    assert store.find_bot(enterprise_id=None, team_id="T0TWO") is None
    assert store.find_installation(enterprise_id=None, team_id="T0TWO") is None


def test_every_installation_record_carries_the_latest_bot_token(any_redis: redis.Redis) -> None:
    store = RedisInstallationStore(any_redis)
    store.save(installation(user="U0A", user_token="xoxp-a", rotating=True))
    bot = store.find_bot(enterprise_id=None, team_id="T0ONE")
    bot.bot_token = "xoxb-rotated"  # what TokenRotator + save_bot do
    store.save_bot(bot)
    mine = store.find_installation(enterprise_id=None, team_id="T0ONE", user_id="U0A")
    assert mine.user_token == "xoxp-a" and mine.bot_token == "xoxb-rotated"
    latest = store.find_installation(enterprise_id=None, team_id="T0ONE")  # what Bolt's authorize reads
    assert latest.bot_token == "xoxb-rotated" and latest.bot_refresh_token == "xoxe-1-refresh"
    assert store.find_installation(enterprise_id=None, team_id="T0ONE", user_id="U0NOBODY") is None


def test_org_wide_install_is_found_for_any_team_in_the_org(any_redis: redis.Redis) -> None:
    store = RedisInstallationStore(any_redis)
    store.save(installation(team=None, enterprise="E0ORG", org=True, bot_token="xoxb-org"))
    for team in (None, "T0ANY"):
        found = store.find_installation(enterprise_id="E0ORG", team_id=team, is_enterprise_install=True)
        assert found is not None and found.bot_token == "xoxb-org" and found.is_enterprise_install
        assert store.find_bot(enterprise_id="E0ORG", team_id=team, is_enterprise_install=True).bot_token == "xoxb-org"
    # A workspace in the same org that installed on its own is a different installation.
    assert store.find_bot(enterprise_id="E0ORG", team_id="T0ANY", is_enterprise_install=False) is None
    store.delete_all(enterprise_id="E0ORG", team_id=None)
    assert store.find_bot(enterprise_id="E0ORG", team_id=None, is_enterprise_install=True) is None
    assert store.installed() == []


def test_revoked_bot_token_is_never_handed_out_again(any_redis: redis.Redis) -> None:
    store = RedisInstallationStore(any_redis)
    store.save(installation(user="U0A", user_token="xoxp-a"))
    store.delete_bot(enterprise_id=None, team_id="T0ONE")  # tokens_revoked: bot
    assert store.find_bot(enterprise_id=None, team_id="T0ONE") is None
    for user in (None, "U0A"):
        found = store.find_installation(enterprise_id=None, team_id="T0ONE", user_id=user)
        assert found.bot_token is None and found.user_token == "xoxp-a"


def test_revoked_user_token_is_removed_from_every_record(any_redis: redis.Redis) -> None:
    store = RedisInstallationStore(any_redis)
    store.save(installation(user="U0A", user_token="xoxp-a"))
    store.delete_installation(enterprise_id=None, team_id="T0ONE", user_id="U0A")  # tokens_revoked: oauth
    assert store.find_installation(enterprise_id=None, team_id="T0ONE", user_id="U0A") is None
    latest = store.find_installation(enterprise_id=None, team_id="T0ONE")
    assert latest.user_token is None and latest.bot_token == "xoxb-one"


def test_delete_all_leaves_nothing_and_other_workspaces_alone(any_redis: redis.Redis) -> None:
    store = RedisInstallationStore(any_redis)
    store.save(installation(team="T0ONE", user="U0A", user_token="xoxp-a"))
    store.save(installation(team="T0ONE", user="U0B", user_token="xoxp-b"))
    store.save(installation(team="T0TWO", bot_token="xoxb-two"))
    store.delete_all(enterprise_id=None, team_id="T0ONE")
    # The workspace's data key stays (it also seals reflections); a purge is what deletes it.
    assert [k for k in any_redis.scan_iter("*") if "T0ONE" in k and not k.endswith(":datakey")] == []
    assert [r.workspace.team_id for r in store.installed()] == ["T0TWO"]
    assert store.find_bot(enterprise_id=None, team_id="T0TWO").bot_token == "xoxb-two"


def test_installations_are_listed(any_redis: redis.Redis) -> None:
    store = RedisInstallationStore(any_redis)
    store.save(installation(team="T0TWO", installed_at=2000.0, rotating=True))
    store.save(installation(team="T0ONE", installed_at=1000.0))
    listed = store.installed()
    assert [(r.workspace.team_id, r.team_name, r.rotating) for r in listed] == [
        ("T0ONE", "Team T0ONE", False), ("T0TWO", "Team T0TWO", True)]


def test_oauth_state_is_single_use(any_redis: redis.Redis) -> None:
    states = RedisOAuthStateStore(any_redis, expiration_seconds=60)
    state = states.issue()
    other = RedisOAuthStateStore(any_redis, expiration_seconds=60)  # another web process
    assert other.consume(state) is True
    assert states.consume(state) is False  # replayed
    assert states.consume("never-issued") is False


def test_oauth_state_expires(any_redis: redis.Redis) -> None:
    states = RedisOAuthStateStore(any_redis, expiration_seconds=1)
    state = states.issue()
    time.sleep(1.2)
    assert states.consume(state) is False
