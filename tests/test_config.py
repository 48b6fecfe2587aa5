from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_SLACK_API_URL, ConfigError, load_settings


def test_defaults() -> None:
    s = load_settings({}, dotenv=False)
    assert s.port == 3000
    assert s.timezone == "Europe/London"
    assert s.retention_days == 365
    assert s.slack_api_url == DEFAULT_SLACK_API_URL
    assert s.data_dir == Path("var")
    assert s.mode == "shell"


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, "socket"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "http"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "shell"),
        ({"SLACK_SIGNING_SECRET": "s"}, "shell"),
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "c", "SLACK_SIGNING_SECRET": "s"}, "oauth"),
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "c"}, "shell"),  # cannot verify requests: not served
    ],
)
def test_mode_follows_tokens(env: dict[str, str], mode: str) -> None:
    assert load_settings(env, dotenv=False).mode == mode


def test_api_url_gets_trailing_slash() -> None:
    assert load_settings({"SLACK_API_URL": "http://127.0.0.1:1/api"}, dotenv=False).slack_api_url == "http://127.0.0.1:1/api/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "x"}, "PORT must be a whole number"),
        ({"SCR_RETENTION_DAYS": "0"}, "SCR_RETENTION_DAYS must be at least 1"),
        ({"SCR_TIMEZONE": "Mars/Olympus"}, "not a known time zone"),
        ({"REDIS_CLUSTER": "maybe"}, "REDIS_CLUSTER must be true or false"),
        ({"SLACK_TOKEN_ROTATION_MINUTES": "0"}, "SLACK_TOKEN_ROTATION_MINUTES must be at least 1"),
    ],
)
def test_bad_values_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env, dotenv=False)


def test_dotenv_file_is_read_but_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("PORT=4567\nSCR_RETENTION_DAYS=30\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCR_RETENTION_DAYS", "90")
    monkeypatch.delenv("PORT", raising=False)
    s = load_settings()
    assert s.port == 4567
    assert s.retention_days == 90
