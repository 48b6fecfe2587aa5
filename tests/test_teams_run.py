"""``scr-bot run`` serves what is configured: Microsoft Teams alone (no Slack settings at all) is HTTP at
/api/messages with /healthz and /readyz and the clock beside it, not the offline shell; half-set Teams
settings stop it with one line. (Slack and Teams together: tests/test_teams.py.)

The bot is a real process (``python -m bot run``, scheduler on: gunicorn and the clock as siblings), Redis is
real, Teams is tests/fake_teams.py and the activities are signed with its keys.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import warmstart
from test_weekly_processes import sweeps_done

from bot.storage import keys
from bot.teams.cards import points_shown
from conftest import ROOT, BotProcess, bot_env, free_port, http, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams
from fakeslack import FakeSlack

APP_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
TENANT = "72f988bf-0000-0000-0000-000000000002"
WS = keys.Workspace(TENANT, platform="teams")


def teams_only(slack: FakeSlack, teams: FakeTeams, redis_url: str, tmp: Any) -> dict[str, str]:
    env = bot_env(slack, redis_url, tmp, **teams.env())
    return {k: v for k, v in env.items() if not k.startswith("SLACK_")}  # not one Slack setting


@pytest.fixture(scope="module")
def alone(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, dict[str, str]]]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("teamsalone")
    env = {**teams_only(module_slack, teams, redis_server.url, tmp), "SCR_SWEEP_MINUTES": "1"}  # the clock's catch-up
    proc = start_bot(["run"], env, tmp / "bot.log", free_port(), timeout=60)
    yield proc, env
    stop_bot(proc)


def send(bot: BotProcess, activity: dict[str, Any], token: str) -> Any:
    return http("POST", bot.url + "/api/messages", json.dumps(activity),
                {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})  # fmt: skip


def test_teams_alone_is_served_over_http_with_health_checks(alone: tuple[BotProcess, dict[str, str]],
                                                            teams: FakeTeams) -> None:
    bot, _ = alone
    health = http("GET", bot.url + "/healthz")
    assert health.status == 200 and json.loads(health.body)["mode"] == "teams", health.body
    ready = http("GET", bot.url + "/readyz")
    assert ready.status == 200 and json.loads(ready.body)["redis"]["ok"] is True, ready.body
    ask = teams.personal_message("neglect")
    assert send(bot, ask, teams.token_for(ask)).status == 200
    reply = wait_for(lambda: teams.replies_to(ask["id"]), timeout=30)[0]
    assert points_shown(reply) and reply["text"]
    forged = teams.personal_message("neglect")
    assert send(bot, forged, teams.token_for(forged, audience="another-app")).status == 401
    assert "offline shell" not in bot.log()


def test_the_clock_beside_it_posts_a_teams_channel_week(alone: tuple[BotProcess, dict[str, str]], teams: FakeTeams,
                                                        shared_redis: redis.Redis, tmp_path: Path) -> None:  # fmt: skip
    """``run`` starts the clock too: with no Slack settings it still posts a Teams channel's week. The schedule is
    saved through the running bot's store after it learnt the channel; a second ``run`` (a second dyno, sharing
    Redis) started then posts it from its clock's start-up sweep, rather than the test waiting up to a minute for
    the first one's next sweep. Both clocks are live, and the week is counted once that sweep has ended."""
    from bot.weekly.schedules import Schedule, Subscriptions
    from conftest import cron_due_a_minute_ago

    bot, env = alone
    channel = "19:alone-weekly@thread.tacv2"
    added = teams.channel_added(channel, "aad-group-alone")
    assert send(bot, added, teams.token_for(added)).status == 200
    wait_for(lambda: shared_redis.hexists(keys.teams_conversations(WS), channel))
    Subscriptions(shared_redis).save(Schedule(id="teams-alone", team=TENANT, channel=channel, post=cron_due_a_minute_ago(),
                                              source="teams", platform="teams"))  # fmt: skip
    second = start_bot(["run"], {**env, "SCR_DATA_DIR": str(tmp_path / "var")}, tmp_path / "second.log", free_port(),
                       timeout=60)  # fmt: skip
    try:
        posts = wait_for(lambda: teams.weekly_posts(channel), timeout=60)  # its start-up sweep
        wait_for(lambda: sweeps_done(second.log()), timeout=60)  # that sweep ran to the end: a duplicate is out
    except AssertionError:
        raise AssertionError(second.log()[-3000:]) from None
    finally:
        stop_bot(second)
    posts = teams.weekly_posts(channel)
    assert len(posts) == 1 and posts[0]["activity"]["text"].startswith("Learning point of the week")


@pytest.mark.parametrize(("given", "says"), [
    (("TEAMS_APP_ID",), "TEAMS_APP_PASSWORD, TEAMS_TENANT_ID not"),
    (("TEAMS_APP_ID", "TEAMS_TENANT_ID"), "TEAMS_APP_PASSWORD not"),
    (("TEAMS_APP_PASSWORD",), "TEAMS_APP_ID, TEAMS_TENANT_ID not"),
])  # fmt: skip
def test_half_set_teams_settings_stop_run_with_one_line(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any,
                                                        tmp_path: Any, given: tuple[str, ...], says: str) -> None:  # fmt: skip
    env = teams_only(module_slack, teams, redis_server.url, tmp_path)
    for name in {"TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID"} - set(given):
        env.pop(name)
    env["PORT"] = str(free_port())
    proc = warmstart.run([sys.executable, "-m", "bot", "run"], env=env, cwd=str(ROOT), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and says in lines[0], proc.stdout + proc.stderr
    assert teams.app_password not in lines[0]


def test_teams_with_slack_in_socket_mode_is_one_line(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any,
                                                     tmp_path: Any) -> None:  # fmt: skip
    env = {**bot_env(module_slack, redis_server.url, tmp_path, **teams.env()), "SLACK_APP_TOKEN": "xapp-1-A1-1-abc",
           "PORT": str(free_port())}  # fmt: skip
    env.pop("SLACK_SIGNING_SECRET")
    proc = warmstart.run([sys.executable, "-m", "bot", "run"], env=env, cwd=str(ROOT), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and "unset the SLACK_* settings to serve Teams alone" in lines[0], lines
