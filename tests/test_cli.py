"""The `scr-bot` command line as a curator or admin uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import warmstart

from conftest import CONTENT_DIR, ROOT


def run(*args: str, env: dict[str, str] | None = None, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    base.update(env or {})
    return warmstart.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=base, cwd=ROOT, timeout=timeout)


@pytest.mark.parametrize(
    "args",
    [[], ["run"], ["clock"], ["shell"], ["ask"], ["content"], ["content", "check"], ["content", "stats"],
     ["content", "coverage"], ["schedule"], ["schedule", "list"], ["schedule", "preview"], ["schedule", "post-now"],
     ["schedule", "run-due"], ["reflections"], ["reflections", "export"], ["reflections", "report"], ["workspace"],
     ["workspace", "list"], ["workspace", "purge"]],
)
def test_every_subcommand_has_help(args: list[str]) -> None:
    result = run(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: scr-bot" in result.stdout


def test_content_check_passes_on_shipped_content() -> None:
    result = run("content", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("content OK:")
    assert "warning" not in result.stdout


def test_content_check_names_file_and_line_of_broken_yaml(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "points").mkdir(parents=True)
    for name in ("briefings.yaml", "sectors.yaml", "themes.yaml"):
        (content / name).write_text((CONTENT_DIR / name).read_text())
    (content / "points" / "mine.yaml").write_text("points:\n  - id: a\n    title: [unclosed\n")
    result = run("content", "check", env={"SCR_CONTENT_DIR": str(content)})
    assert result.returncode == 1
    assert f"{content / 'points' / 'mine.yaml'}:4:" in result.stderr or f"{content / 'points' / 'mine.yaml'}:3:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_content_folder_is_one_clear_line(tmp_path: Path) -> None:
    result = run("content", "check", env={"SCR_CONTENT_DIR": str(tmp_path / "nowhere")})
    assert result.returncode == 1
    assert "content folder not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_is_one_clear_line() -> None:
    result = run("ask", "neglect", env={"PORT": "eighty"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "scr-bot: PORT must be a whole number, got 'eighty'"


def test_ask_json_contract() -> None:
    result = run("ask", "police", "neglect", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["query"] == "police neglect"
    assert data["kind"] == "intersection"
    assert data["results"], "expected results"
    first = data["results"][0]
    assert set(first) == {"id", "title", "summary", "kind", "themes", "sectors", "source", "period", "since"}
    assert first["period"] and (first["since"] is None or first["since"].startswith("Since this briefing"))
    assert set(first["source"]) == {"briefing", "section", "pages", "local", "label"}
    assert first["kind"] in ("practice", "key-data", "background")
    assert first["source"]["local"] is False and first["source"]["label"] == "National SCR briefing"
    assert all("neglect" in r["themes"] for r in data["results"])


def test_ask_prints_a_readable_answer() -> None:
    result = run("ask", "was", "not", "brought")
    assert result.returncode == 0, result.stderr
    assert "was not brought" in result.stdout.lower()
    assert "Key messages" in result.stdout
    assert "<" not in result.stdout.replace("<-", "")  # no raw Slack markup leaks into the terminal


def test_run_without_tokens_opens_the_offline_shell(tmp_path: Path) -> None:
    result = run("run", env={"SCR_DATA_DIR": str(tmp_path / "var")}, stdin="/scr help\n/scr neglet\n1\nquit\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "offline shell" in out
    assert "LEARNING FROM SERIOUS CASE REVIEWS" in out
    assert "“neglet” → neglect" in out
    # Button 1 on the neglect answer is "Share in channel": the real handler posts via the local Slack.
    assert "── @scr in #team ──" in out
    assert "Shared by @you" in out
    assert "Bye." in out


WARD = """schedules:
  - id: ward-7
    channel: C0WARD7
    when: {day: monday, time: "09:30"}
    sectors: [health]
"""


@pytest.mark.parametrize("slack_says", ["invalid_auth", "unreachable"])
@pytest.mark.parametrize("args", [["schedule", "run-due", "--now", "2026-11-23T09:31:00+00:00"],
                                  ["schedule", "post-now", "ward-7"], ["schedule", "list"]])
def test_schedule_commands_stop_when_slack_cannot_say_which_workspace(
        tmp_path: Path, slack, redis_server, redis_client, slack_says: str, args: list[str]) -> None:  # noqa: ANN001
    """Never fall back to the offline shell's workspace: its keys are not the real workspace's, so a post
    made under them would be posted again by the clock."""
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "ward.yaml").write_text(WARD)
    if slack_says == "invalid_auth":
        slack.fail("auth.test", status=200, retry_after=None, error="invalid_auth", times=10)
        api = slack.url
    else:
        api = "http://127.0.0.1:9/api/"  # nothing listens there
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": api,
           "REDIS_URL": redis_server.url, "SCR_SCHEDULES_DIR": str(tmp_path / "schedules"),
           "SCR_DATA_DIR": str(tmp_path / "var")}  # fmt: skip
    result = run(*args, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("scr-bot: ") and "Traceback" not in result.stderr
    assert ("invalid_auth" in line and "SLACK_BOT_TOKEN" in line) if slack_says == "invalid_auth" else "reach Slack" in line
    assert slack.calls_to("chat.postMessage") == []
    assert [k for k in redis_client.scan_iter("*") if slack.team_id in k] == []


def test_workspace_list_and_purge(redis_server, redis_client, tmp_path: Path) -> None:  # noqa: ANN001
    from test_installations import installation

    from bot.reflections.store import Reflection, ReflectionStore
    from bot.slack.installations import RedisInstallationStore
    from bot.storage import keys
    from bot.storage.store import Workspace
    from conftest import redis_env

    store = RedisInstallationStore(redis_client)
    store.save(installation(team="T0ONE", rotating=True))
    store.save(installation(team="T0TWO", enterprise="E0GRID"))
    now = 1_800_000_000.0
    ReflectionStore(redis_client, 365, clock=lambda: now).add(
        Workspace("T0ONE"), Reflection(id="m-1", user="U0A", point="p", kind="thread", visibility="thread",
                                       created_at=now, updated_at=now, text="kept until purged"))  # fmt: skip
    env = {**redis_env(redis_server), "SCR_DATA_DIR": str(tmp_path / "var"), "HOME": str(tmp_path)}
    listed = run("workspace", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and "T0ONE" in lines[0] and "rotating" in lines[0]
    assert "T0TWO" in lines[1] and "enterprise E0GRID" in lines[1] and "long-lived" in lines[1]

    refused = run("workspace", "purge", "T0ONE", env=env)
    assert refused.returncode == 1 and "--yes" in refused.stderr and "Traceback" not in refused.stderr
    assert redis_client.exists(keys.install_bot(Workspace("T0ONE")))
    done = run("workspace", "purge", "T0ONE", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert [k for k in redis_client.scan_iter("*") if "T0ONE" in k] == []
    assert "T0ONE" not in run("workspace", "list", env=env).stdout
    assert RedisInstallationStore(redis_client).find_bot(enterprise_id="E0GRID", team_id="T0TWO") is not None


def test_half_set_add_to_slack_settings_are_one_clear_line(tmp_path: Path) -> None:
    env = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "secret", "SCR_DATA_DIR": str(tmp_path / "var")}
    result = run("run", env=env)
    assert result.returncode == 1
    assert "SLACK_SIGNING_SECRET" in result.stderr and "Traceback" not in result.stderr
    both = run("run", env={**env, "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1"})
    assert both.returncode == 1 and "SLACK_BOT_TOKEN would be ignored" in both.stderr
