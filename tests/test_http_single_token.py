"""One token, one workspace: a signed request whose body names another team acts in the token's own workspace.

The real bot over signed HTTP with a real Redis, installed with one ``SLACK_BOT_TOKEN`` (not OAuth). Bolt reads
the request's team from its body; the token's team is what ``auth.test`` answers. A signed ``/scr subscribe`` and
``/scr settings`` naming team T0BBB, typed by someone on ``SCR_ADMINS``, must not open a second workspace (keys
under T0BBB, settings the global list grants rights "for", a schedule posting with the only token): a raw scan
of Redis finds nothing naming T0BBB, and the change is in the token's workspace, as a request from there would
be. On Enterprise Grid (``auth.test`` names the org as well) the token's org counts, not the one the body names.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.config import Settings
from bot.storage.store import Workspace
from bot.storage.wssettings import WorkspaceSettings
from bot.weekly.schedules import Subscriptions
from conftest import BotProcess, RedisServer, bot_env, command_answer, free_port, start_bot, stop_bot
from fakeslack import SINGLE_TEAM, FakeSlack

pytestmark = pytest.mark.slow
ENV_ADMIN, OTHER_TEAM, OTHER_ORG, GRID = "U0ENVADMIN", "T0BBB", "E0OTHER", "E0GRID"
GRID_ADMIN, GRID_ELSEWHERE = "U0GRIDADMIN", "U0GRIDELSE"


@pytest.fixture
def single_bot(slack: FakeSlack, redis_server: RedisServer, redis_client: redis.Redis,
               tmp_path: Path) -> Iterator[BotProcess]:  # fmt: skip
    """A single-token install (the fake's ``auth.test`` names its workspace, and its org if the test set one)."""
    env = bot_env(slack, redis_server.url, tmp_path, SCR_ADMINS=ENV_ADMIN)
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    yield proc
    stop_bot(proc)


def keys_naming(r: redis.Redis, *names: str) -> list[str]:
    """Every key whose name carries one of ``names``, as a raw ``SCAN`` of the server shows them."""
    return sorted(k for k in r.scan_iter(count=1000) if any(n in k for n in names))


def stored_timezone(r: redis.Redis, ws: Workspace) -> str | None:
    """The time zone ``ws``'s admins set (``/scr settings timezone``), as stored for it."""
    return WorkspaceSettings(r, Settings()).stored(ws).get("timezone")


def calls_naming(slack: FakeSlack, team: str) -> list[str]:
    """Web API calls the bot made on the other team's behalf (a ``team_id`` parameter naming it)."""
    return [c.method for c in slack.calls if c.params.get("team_id") == team]


def test_a_request_naming_another_team_acts_in_the_tokens_workspace(single_bot: BotProcess, slack: FakeSlack,
                                                                    redis_client: redis.Redis) -> None:  # fmt: skip
    ours = Workspace(SINGLE_TEAM)
    said = command_answer(single_bot, slack, "subscribe monday 09:30", user=ENV_ADMIN, channel="C0ELSE",
                          team=OTHER_TEAM)["text"]  # fmt: skip
    assert "set up" in said, said
    said = command_answer(single_bot, slack, "settings timezone Asia/Tokyo", user=ENV_ADMIN, channel="C0ELSE",
                          team=OTHER_TEAM)["text"]  # fmt: skip
    assert "Asia/Tokyo" in said, said

    assert keys_naming(redis_client, OTHER_TEAM) == []
    assert calls_naming(slack, OTHER_TEAM) == []
    # The change is the token's workspace's, as if typed there.
    assert Subscriptions(redis_client).get(ours, "C0ELSE") is not None
    assert stored_timezone(redis_client, ours) == "Asia/Tokyo"
    assert "Asia/Tokyo" in command_answer(single_bot, slack, "settings", user=ENV_ADMIN, channel="C0ELSE")["text"]


@pytest.fixture
def grid_slack(slack: FakeSlack) -> FakeSlack:
    """The one token is a workspace's in an Enterprise Grid org: ``auth.test`` names the org as well."""
    slack.enterprise_id = GRID
    # Slack's home team may be another of the org's workspaces; the org's teams list counts.
    slack.users[GRID_ADMIN] = {"id": GRID_ADMIN, "name": "g", "team_id": "T0HOME", "is_admin": True,
                               "enterprise_user": {"id": GRID_ADMIN, "enterprise_id": GRID,
                                                   "teams": ["T0HOME", SINGLE_TEAM]}}  # fmt: skip
    slack.users[GRID_ELSEWHERE] = {"id": GRID_ELSEWHERE, "name": "h", "team_id": "T0HOME", "is_admin": True,
                                   "enterprise_user": {"id": GRID_ELSEWHERE, "enterprise_id": GRID,
                                                       "teams": ["T0HOME"]}}  # fmt: skip
    return slack


def test_on_enterprise_grid_the_tokens_org_and_workspace_count(grid_slack: FakeSlack, single_bot: BotProcess,
                                                               redis_client: redis.Redis) -> None:  # fmt: skip
    """A member of the token's workspace is an admin here; an admin of another of the org's workspaces is not;
    a body naming another org's workspace changes nothing of that: it is still the token's workspace."""
    slack, ours = grid_slack, Workspace(SINGLE_TEAM, GRID)
    admins_only = "Only workspace admins or the bot's admins (`/scr admins`) can"

    def settings(text: str, user: str, team: str = SINGLE_TEAM, enterprise: str = GRID) -> str:
        return command_answer(single_bot, slack, text, user=user, channel="C0GRID", team=team,
                              enterprise=enterprise)["text"]  # fmt: skip

    assert "*This workspace's settings*" in settings("settings", GRID_ADMIN)
    assert settings("settings", GRID_ELSEWHERE).startswith(admins_only)
    assert settings("settings", GRID_ELSEWHERE, team=OTHER_TEAM, enterprise=OTHER_ORG).startswith(admins_only)
    said = settings("settings timezone Asia/Tokyo", GRID_ADMIN, team=OTHER_TEAM, enterprise=OTHER_ORG)
    assert "Asia/Tokyo" in said, said
    assert stored_timezone(redis_client, ours) == "Asia/Tokyo"
    assert keys_naming(redis_client, OTHER_TEAM, OTHER_ORG) == []


def test_an_org_wide_token_serves_its_org_only(slack: FakeSlack, redis_client: redis.Redis, redis_server: RedisServer,
                                               tmp_path: Path) -> None:  # fmt: skip
    """An org-wide token (``auth.test`` names the org and no workspace) is the org's: a member of the org is
    an admin of it; a body naming another org is still filed under the token's org."""
    slack.team_id, slack.enterprise_id = "", "E0ORG"
    slack.users[GRID_ELSEWHERE] = {"id": GRID_ELSEWHERE, "name": "h", "team_id": "T0HOME", "is_admin": True,
                                   "enterprise_user": {"id": GRID_ELSEWHERE, "enterprise_id": "E0ORG",
                                                       "teams": ["T0HOME"]}}  # fmt: skip
    env = bot_env(slack, redis_server.url, tmp_path, SCR_ADMINS=ENV_ADMIN)
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        shown = command_answer(bot, slack, "settings", user=GRID_ELSEWHERE, channel="C0ORG", team="E0ORG",
                               enterprise="E0ORG", org=True)["text"]  # fmt: skip
        assert "*This workspace's settings*" in shown, shown
        said = command_answer(bot, slack, "settings timezone Asia/Tokyo", user=ENV_ADMIN, channel="C0ORG",
                              team="E0ORG", enterprise=OTHER_ORG, org=True)["text"]  # fmt: skip
        assert "Asia/Tokyo" in said, said
        assert stored_timezone(redis_client, Workspace("E0ORG", "E0ORG")) == "Asia/Tokyo"
        assert keys_naming(redis_client, OTHER_ORG) == []
    finally:
        stop_bot(bot)
