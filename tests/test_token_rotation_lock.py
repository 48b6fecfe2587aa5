"""The per-workspace token rotation lock: one refresher at a time, and never someone else's lock released.

Real Redis, the fake Slack's OAuth server (a refresh token works once), and the bot's own
``WorkspaceClients`` (what the clock and the CLI post with).
"""

from __future__ import annotations

import threading

import redis
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation

from bot.config import load_settings
from bot.slack.app import make_client
from bot.slack.installations import RedisInstallationStore
from bot.slack.oauth import WorkspaceClients
from bot.storage import keys
from bot.storage.store import Workspace
from conftest import wait_for
from fakeslack import FakeSlack, Install

TEAM = "T0LOCK"


def installed(slack: FakeSlack, store: RedisInstallationStore, team: str = TEAM) -> Installation:
    """A rotating install, exchanged with the fake Slack as Bolt's OAuth flow does, saved in the store."""
    slack.oauth.add_install(f"code-{team}", Install(team, f"Team {team}", rotating=True))
    got = WebClient(base_url=slack.url).oauth_v2_access(client_id=slack.oauth.client_id,
                                                       client_secret=slack.oauth.client_secret, code=f"code-{team}")  # fmt: skip
    installation = Installation(
        app_id=got["app_id"], team_id=team, team_name=f"Team {team}", bot_token=got["access_token"],
        bot_refresh_token=got["refresh_token"], bot_token_expires_in=got["expires_in"], bot_id="B0BOT",
        bot_user_id=got["bot_user_id"], bot_scopes=got["scope"], user_id="U0INSTALLER",
    )  # fmt: skip
    store.save(installation)
    return installation


def clients(slack: FakeSlack, store: RedisInstallationStore) -> WorkspaceClients:
    settings = load_settings({"SLACK_CLIENT_ID": slack.oauth.client_id, "SLACK_CLIENT_SECRET": slack.oauth.client_secret,
                              "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.url}, dotenv=False)  # fmt: skip
    return WorkspaceClients(settings, lambda token: make_client(token, slack.url), installations=store)


def test_a_rotation_that_outlives_its_lock_does_not_release_the_next_holders_lock(
        slack: FakeSlack, redis_client: redis.Redis) -> None:  # fmt: skip
    store = RedisInstallationStore(redis_client)
    slack.oauth.lifetime = 1800  # inside the 120-minute refresh window: the next use rotates
    installed(slack, store)
    a = clients(slack, store)
    a.lock_seconds = 0.5  # A's lease, shorter than its (slow) rotation below
    slack.delay["oauth.v2.access"] = 1.5
    lock = keys.install_rotating(Workspace(TEAM))
    got: list[str] = []
    worker = threading.Thread(target=lambda: got.append(a(Workspace(TEAM)).token or ""))
    worker.start()
    wait_for(lambda: redis_client.exists(lock), timeout=5)  # A holds the lock and is rotating
    wait_for(lambda: not redis_client.exists(lock), timeout=5)  # ... for longer than its lease
    assert redis_client.set(lock, "B", nx=True, px=30_000)  # B, another process, takes the lock
    assert worker.is_alive()  # ... while A is still rotating
    worker.join(10)
    assert got and got[0] != "" and slack.oauth.grants[got[0]].team_id == TEAM  # A still got its rotated token
    assert redis_client.get(lock) == "B"  # A's release left B's lock alone


def test_two_clocks_rotating_at_once_spend_the_refresh_token_once(slack: FakeSlack, redis_client: redis.Redis) -> None:
    store = RedisInstallationStore(redis_client)
    slack.oauth.lifetime = 1800
    first = installed(slack, store)
    slack.oauth.lifetime = 43200  # the rotated token is outside the window: one rotation is enough
    slack.delay["oauth.v2.access"] = 0.5
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(clients(slack, store)(Workspace(TEAM)).token or ""))
               for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    refreshes = [e["refresh_token"] for e in slack.oauth.exchanges if e.get("grant_type") == "refresh_token"]
    assert refreshes == [first.bot_refresh_token]  # spent once, by one of them
    assert len(set(tokens)) == 1 and tokens[0] != first.bot_token  # both post with the one new token
