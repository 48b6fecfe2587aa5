"""Every misconfiguration an operator is likely to make, through the real `scr-bot` command.

Each row is one mistake: the command must say what to fix on ONE line of standard error, print no
traceback, and exit non-zero where it cannot go on. Slack is the local fake (answering
``invalid_auth`` where a row needs a wrong token), Redis a real server or a port with nothing on it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import warmstart

from bot.storage.embedded_redis import find_redis_server
from conftest import ROOT, free_port

# `python -m bot` from the checkout (cwd=ROOT): the code under test, not whatever `scr-bot` script is installed.
COMMAND = [sys.executable, "-m", "bot"]
HTTP_TOKENS = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "secret"}
NOBODY = "redis://127.0.0.1:{port}/0"  # a port with no Redis on it


@dataclass
class Case:
    """One mistake. ``env`` values may use {slack}, {port}, {tmp} (filled in per test)."""

    args: list[str]
    env: dict[str, str]
    says: str
    exit_code: int = 1
    files: dict[str, str] = field(default_factory=dict)  # path under tmp -> text
    rejects: str = "auth.test"  # with {bad_slack}: the Web API method that answers invalid_auth
    trouble: tuple[int, str] | None = None  # with {bad_slack}: auth.test answers this HTTP status and error instead
    stdin: str = ""  # what is typed (the shell)


def _schedule_file(body: str) -> dict[str, str]:
    return {"schedules/s.yaml": "schedules:\n" + body}


CASES: dict[str, Case] = {
    "bot token without secret or app token": Case(
        ["run"], {"SLACK_BOT_TOKEN": "xoxb-1"},
        "SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode) is"),
    "signing secret without bot token": Case(
        ["run"], {"SLACK_SIGNING_SECRET": "secret"}, "SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not"),
    "invalid token (run)": Case(
        ["run", "--no-scheduler"], {**HTTP_TOKENS, "SLACK_API_URL": "{bad_slack}", "PORT": "{port}"},
        "Slack rejected SLACK_BOT_TOKEN (invalid_auth): copy the Bot User OAuth Token"),
    "invalid token (clock)": Case(
        ["clock"], {**HTTP_TOKENS, "SLACK_API_URL": "{bad_slack}"}, "Slack rejected SLACK_BOT_TOKEN (invalid_auth)"),
    "invalid token (schedule list)": Case(
        ["schedule", "list"], {**HTTP_TOKENS, "SLACK_API_URL": "{bad_slack}"}, "Slack rejected SLACK_BOT_TOKEN"),
    "invalid app-level token (Socket Mode)": Case(
        ["run", "--no-scheduler"], {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_API_URL": "{bad_slack}"},
        "Slack rejected SLACK_APP_TOKEN (invalid_auth): create an app-level token", rejects="apps.connections.open"),
    "Slack outage at auth.test (HTTP 500)": Case(
        ["schedule", "list"], {**HTTP_TOKENS, "SLACK_API_URL": "{bad_slack}"},
        "Slack could not answer (HTTP 500, internal_error): a problem on Slack's side, not a rejected SLACK_BOT_TOKEN",
        trouble=(500, "internal_error")),
    "Slack rate-limiting auth.test (HTTP 429)": Case(
        ["schedule", "list"], {**HTTP_TOKENS, "SLACK_API_URL": "{bad_slack}"},
        "Slack is rate-limiting this app (HTTP 429, retry after 1 s), so it did not check SLACK_BOT_TOKEN",
        trouble=(429, "ratelimited")),
    "Slack unreachable": Case(
        ["run", "--no-scheduler"], {**HTTP_TOKENS, "SLACK_API_URL": "http://127.0.0.1:{port}/api/", "PORT": "{port2}"},
        "cannot reach Slack at http://127.0.0.1:"),
    "clock without a token": Case(["clock"], {}, "scr-bot clock posts to Slack, so it needs SLACK_BOT_TOKEN"),
    "PORT out of range": Case(["run"], {**HTTP_TOKENS, "PORT": "99999"}, "PORT must be from 1 to 65535, got 99999"),
    "PORT in use": Case(
        ["run", "--no-scheduler"], {**HTTP_TOKENS, "SLACK_API_URL": "{slack}", "PORT": "{busy_port}"},
        "is already in use (another scr-bot?): stop that process or set PORT"),
    "Redis unreachable (schedule list)": Case(
        ["schedule", "list"], {"REDIS_URL": NOBODY}, "cannot reach Redis at redis://127.0.0.1:"),
    "Redis unreachable (schedule preview)": Case(
        ["schedule", "preview", "example-health-team"], {"REDIS_URL": NOBODY}, "cannot reach Redis at redis://127.0.0.1:"),
    "Redis unreachable (reflections export)": Case(
        ["reflections", "export", "--team", "T0A", "--user", "U0A"], {"REDIS_URL": NOBODY},
        "cannot reach Redis at redis://127.0.0.1:"),
    "Redis password wrong": Case(
        ["schedule", "list"], {"REDIS_URL": "redis://:wrong@127.0.0.1:{locked_port}/0"},
        "Redis at redis://:***@127.0.0.1:{locked_port}/0 refused the password (authentication failed: "),
    "Redis password wrong (shell)": Case(
        ["run"], {"REDIS_URL": "redis://:wrong@127.0.0.1:{locked_port}/0"},
        "refused the password (authentication failed: invalid username-password pair or user is disabled): "
        "check the password in REDIS_URL", stdin="/scr subscribe\n"),
    "Redis password missing": Case(
        ["reflections", "export", "--team", "T0A", "--user", "U0A"], {"REDIS_URL": "redis://127.0.0.1:{locked_port}/0"},
        "Redis at redis://127.0.0.1:{locked_port}/0 needs a password (authentication failed: "),
    "rediss:// to a plain Redis": Case(
        ["schedule", "list"], {"REDIS_URL": "rediss://127.0.0.1:{plain_port}/0"},
        "did not answer over TLS (Timeout connecting to server): if that server does not use TLS, write redis:// "
        "instead of rediss:// in REDIS_URL"),
    "REDIS_CLUSTER on a single server": Case(
        ["schedule", "list"], {"REDIS_URL": "redis://127.0.0.1:{plain_port}/0", "REDIS_CLUSTER": "true"},
        "Redis at redis://127.0.0.1:{plain_port}/0 is a single server, not a Redis Cluster: unset REDIS_CLUSTER"),
    "REDIS_URL malformed (schedule list)": Case(
        ["schedule", "list"], {"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a URL such as redis://localhost:6379/0"),
    "REDIS_URL malformed (schedule preview)": Case(
        ["schedule", "preview", "example-health-team"], {"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a URL"),
    "REDIS_URL malformed (reflections export)": Case(
        ["reflections", "export", "--team", "T0A", "--user", "U0A"], {"REDIS_URL": "localhost:6379"},
        "REDIS_URL must be a URL"),
    "SCR_DATA_DIR unwritable": Case(
        ["schedule", "list"], {"SCR_DATA_DIR": "{tmp}/a-file/var"}, "SCR_DATA_DIR",
        files={"a-file": "not a folder"}),
    "SCR_DATA_DIR a file (offline run)": Case(
        ["run"], {"SCR_DATA_DIR": "{tmp}/a-file/var"},
        "SCR_DATA_DIR '{tmp}/a-file/var' cannot be used (Not a directory): point SCR_DATA_DIR at a folder",
        files={"a-file": "not a folder"}, stdin="/scr subscribe\n"),
    "SCR_DATA_DIR a file (shell)": Case(
        ["shell"], {"SCR_DATA_DIR": "{tmp}/a-file"},
        "SCR_DATA_DIR '{tmp}/a-file' cannot be used", files={"a-file": "not a folder"}, stdin="/scr subscribe\n"),
    "SLACK_API_URL misspelt scheme": Case(
        ["schedule", "list"], {**HTTP_TOKENS, "SLACK_API_URL": "htps://slack.com/api/"},
        "SLACK_API_URL must be an http(s) URL such as https://slack.com/api/, got 'htps://slack.com/api/'"),
    "SLACK_API_URL without a scheme": Case(
        ["run", "--no-scheduler"], {**HTTP_TOKENS, "SLACK_API_URL": "slack.com/api/", "PORT": "{port}"},
        "SLACK_API_URL must be an http(s) URL such as https://slack.com/api/, got 'slack.com/api/'"),
    "quiz days outside the working days": Case(
        ["run"], {"SCR_QUIZ_DAYS": "sat"},
        "SCR_QUIZ_DAYS=sat includes sat, outside SCR_WORK_DAYS=mon-fri: knowledge checks are only sent on working days"),
    "quiz time after working hours": Case(
        ["run"], {"SCR_QUIZ_TIME": "18:00"}, "SCR_QUIZ_TIME=18:00 is not before the end of SCR_WORK_HOURS=09:00-17:00"),
    "claim lease below the Slack call budget": Case(
        ["clock"], {**HTTP_TOKENS, "SCR_CLAIM_LEASE_SECONDS": "60"},
        "SCR_CLAIM_LEASE_SECONDS=60 is too short: a claim must outlast one Slack call's retry budget "
        "(CALL_BUDGET, 90 s) and one more request's timeout (10 s) with a 34 s margin"),
    "claim lease within the margin": Case(
        ["schedule", "list"], {"SCR_CLAIM_LEASE_SECONDS": "120"}, "use at least 134"),
    "SCR_LOG_LEVEL unknown": Case(
        ["run"], {"SCR_LOG_LEVEL": "verbose"},
        "SCR_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'verbose'"),
    "user token as the bot token": Case(
        ["run", "--no-scheduler"], {**HTTP_TOKENS, "SLACK_BOT_TOKEN": "xoxp-1-2-3", "SLACK_API_URL": "{nobody}",
                                    "PORT": "{port}"},
        "SLACK_BOT_TOKEN is a user token (xoxp-...): copy the Bot User OAuth Token (xoxb-...)"),
    "bot and app tokens swapped": Case(
        ["run", "--no-scheduler"], {"SLACK_BOT_TOKEN": "xapp-1-A0-1", "SLACK_APP_TOKEN": "xoxb-1-2",
                                    "SLACK_API_URL": "{nobody}"},
        "SLACK_BOT_TOKEN and SLACK_APP_TOKEN are swapped"),
    "app token in the bot token": Case(
        ["run", "--no-scheduler"], {**HTTP_TOKENS, "SLACK_BOT_TOKEN": "xapp-1-A0-1", "SLACK_API_URL": "{nobody}",
                                    "PORT": "{port}"},
        "SLACK_BOT_TOKEN is an app-level token (xapp-...), which belongs in SLACK_APP_TOKEN"),
    "bot token in the app token": Case(
        ["run", "--no-scheduler"], {"SLACK_BOT_TOKEN": "xoxb-1-2", "SLACK_APP_TOKEN": "xoxb-1-3",
                                    "SLACK_API_URL": "{nobody}"},
        "SLACK_APP_TOKEN is a bot token (xoxb-...), but Socket Mode needs an app-level token (xapp-...)"),
    "token pasted with quotes": Case(
        ["run", "--no-scheduler"], {**HTTP_TOKENS, "SLACK_BOT_TOKEN": '"xoxb-1-2"', "SLACK_API_URL": "{nobody}",
                                    "PORT": "{port}"},
        "SLACK_BOT_TOKEN contains quotes or spaces: paste the value alone"),
    "token pasted with a space inside": Case(
        ["schedule", "list"], {**HTTP_TOKENS, "SLACK_BOT_TOKEN": "xoxb-1 -2", "SLACK_API_URL": "{nobody}"},
        "SLACK_BOT_TOKEN contains quotes or spaces"),
    "SCR_SCHEDULES_DIR missing": Case(
        ["schedule", "list"], {"SCR_SCHEDULES_DIR": "{tmp}/no-such-folder"},
        "SCR_SCHEDULES_DIR='{tmp}/no-such-folder' is not a folder"),
    "preview --weeks 0": Case(
        ["schedule", "preview", "example-health-team", "--weeks", "0"], {},
        "--weeks: give a number of weeks from 1 to 520, got 0", exit_code=2),
    "preview --weeks -3": Case(
        ["schedule", "preview", "example-health-team", "--weeks", "-3"], {},
        "--weeks: give a number of weeks from 1 to 520, got -3", exit_code=2),
    "schedule time not quoted": Case(
        ["schedule", "list"], {"SCR_SCHEDULES_DIR": "{tmp}/schedules"},
        '{tmp}/schedules/s.yaml:6: when.time: put the time in quotes, e.g. time: "09:30"',
        files=_schedule_file("  - id: a\n    channel: C0A\n    when:\n      day: monday\n      time: 9:30\n")),
    "schedule channel by name": Case(
        ["schedule", "list"], {"SCR_SCHEDULES_DIR": "{tmp}/schedules"},
        "{tmp}/schedules/s.yaml:3: channel: 'general' is not a channel ID: use the channel's ID",
        files=_schedule_file("  - id: a\n    channel: general\n    when: {day: monday, time: '09:30'}\n")),
    "schedule unclosed quote": Case(
        ["schedule", "list"], {"SCR_SCHEDULES_DIR": "{tmp}/schedules"},
        "{tmp}/schedules/s.yaml:3: YAML syntax error: the quote that starts a value on this line is never closed",
        files=_schedule_file('  - id: a\n    channel: "C0A\n    when: {day: monday, time: "09:30"}\n'
                             + "".join(f"  - id: s{i}\n    channel: C0S{i}\n" for i in range(8))
                             + '  - id: z\n    channel: "C0Z"\n')),
    "schedule at a time the clocks skip": Case(
        ["schedule", "list"], {"SCR_SCHEDULES_DIR": "{tmp}/schedules"},
        "{tmp}/schedules/s.yaml:5: 02:30 does not exist in America/New_York on Sunday",
        files=_schedule_file("  - id: a\n    channel: C0A\n    timezone: America/New_York\n"
                             "    when: {day: sunday, time: '02:30'}\n")),
}


def _own_redis(directory: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """A real redis-server on a loopback port with these extra options (a password, say)."""
    port = free_port()
    proc = subprocess.Popen([find_redis_server() or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(directory), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "test redis-server did not start"
            time.sleep(0.02)


@pytest.fixture(scope="module")
def redis_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A plain single Redis server, and one that needs a password (``--requirepass``)."""
    plain, plain_port = _own_redis(tmp_path_factory.mktemp("plain"))
    locked, locked_port = _own_redis(tmp_path_factory.mktemp("locked"), "--requirepass", "s3cret")
    yield {"plain_port": str(plain_port), "locked_port": str(locked_port)}
    for proc in (plain, locked):
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("name", list(CASES))
def test_misconfiguration_is_one_line_naming_the_fix(name: str, tmp_path: Path, slack,  # noqa: ANN001
                                                     redis_ports: dict[str, str]) -> None:  # fmt: skip
    case = CASES[name]
    if any("{bad_slack}" in v for v in case.env.values()):
        if case.trouble:  # Slack down or rate-limiting: not the token's fault
            status, error = case.trouble
            slack.fail(case.rejects, status=status, retry_after=1 if status == 429 else None, error=error, times=1000)
        else:  # Slack's answer to a wrong token: HTTP 200, ok false, error invalid_auth.
            slack.fail(case.rejects, status=200, retry_after=None, error="invalid_auth", times=1000)
    for rel, text in case.files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen()
    values = {"slack": slack.url, "bad_slack": slack.url, "tmp": str(tmp_path), "port": str(free_port()),
              "port2": str(free_port()), "busy_port": str(busy.getsockname()[1]),
              "nobody": f"http://127.0.0.1:{free_port()}/api/", **redis_ports}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(SCR_DATA_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    env.update({k: v.format(**values) for k, v in case.env.items()})
    before = sorted(tmp_path.rglob("*"))
    try:
        result = warmstart.run([*COMMAND, *case.args], env=env, cwd=ROOT, capture_output=True, text=True,
                                input=case.stdin, timeout=60)  # fmt: skip
    finally:
        busy.close()
    wrote = [p for p in sorted(tmp_path.rglob("*")) if p not in before]
    assert wrote == [], f"a command that could not go on wrote {wrote}"
    assert "offline shell" not in result.stdout, result.stdout  # it stopped before opening the shell
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert case.says.format(**values) in lines[0], lines[0]
    assert result.returncode == case.exit_code, (result.returncode, result.stderr)


def test_offline_shell_still_opens_with_no_tokens_at_all(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env["SCR_DATA_DIR"] = str(tmp_path / "var")
    result = warmstart.run([*COMMAND, "run"], env=env, cwd=ROOT, input="quit\n", capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "offline shell" in result.stdout
    assert result.stderr == "", result.stderr


SEVERAL_MISTAKES = """schedules:
  - id: a
    channel: general
    when: {day: monday, time: 9:30}
    sectors: [helth]
  - id: b
    channel: C0B
    when: {day: funday, time: "09:30"}
    sectors: [nope]
    themes: [nada]
  - id: c
    channel: C0C
    when: {day: monday, time: "09:30"}
    sectors: [helth]
"""


def test_a_schedule_file_with_several_mistakes_reports_every_one(tmp_path: Path) -> None:
    """Fixing one mistake only to be shown the next, run after run: every mistake is reported at once."""
    (tmp_path / "schedules").mkdir()
    path = tmp_path / "schedules" / "s.yaml"
    path.write_text(SEVERAL_MISTAKES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(SCR_DATA_DIR=str(tmp_path / "var"), SCR_SCHEDULES_DIR=str(tmp_path / "schedules"))
    result = warmstart.run([*COMMAND, "schedule", "list"], env=env, cwd=ROOT, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines() == [
        f"{path}:3: channel: 'general' is not a channel ID: use the channel's ID (C or G followed by letters and "
        "digits, e.g. C0123456789), not its name. In Slack, open the channel, click its name at the top, and copy "
        "the Channel ID at the bottom of the About tab",
        f'{path}:4: when.time: put the time in quotes, e.g. time: "09:30" (without quotes YAML reads 9:30 as the '
        "number 570)",
        f"{path}:5: unknown sector 'helth'",
        f"{path}:8: when: day 'funday' should be a weekday name such as monday",
        f"{path}:9: unknown sector 'nope'",
        f"{path}:10: unknown theme 'nada'",
        f"{path}:14: unknown sector 'helth'",
        "7 problems found; the bot will not start until they are fixed.",
    ]
    assert not (tmp_path / "var").exists()
