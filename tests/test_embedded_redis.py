"""The embedded Redis server's life cycle: a fast, clean stop, and no server left behind after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from bot.storage.embedded_redis import EmbeddedRedis
from conftest import ROOT, bot_env, free_port, start_bot
from fakeslack import FakeSlack


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_stop_takes_milliseconds_and_keeps_the_data(tmp_path: Path) -> None:
    """Every CLI command and shell exit stops the server: it used to take ~4 s (retried SHUTDOWN)."""
    server = EmbeddedRedis(tmp_path)
    url = server.start()
    redis.Redis.from_url(url).set("scr:kept", "yes")
    pid = server.process.pid
    started = time.monotonic()
    server.stop()
    took = time.monotonic() - started
    assert took < 0.5, f"stopping the embedded Redis took {took:.2f} s"
    assert not _alive(pid)
    again = EmbeddedRedis(tmp_path)
    again.start()
    try:
        assert redis.Redis.from_url(again.url).get("scr:kept") == b"yes"  # SHUTDOWN flushed the append-only file
    finally:
        again.stop()


def _server_pid(data_dir: Path) -> int:
    """Ask the server itself (over its unix socket) which process it is."""
    return int(redis.Redis(unix_socket_path=str(data_dir / "redis.sock")).info("server")["process_id"])


def test_an_orphaned_server_is_adopted_and_stopped_by_the_next_command(tmp_path: Path) -> None:
    """SIGKILL the bot: its redis-server lives on. The next scr-bot command adopts it and stops it on exit."""
    data = tmp_path / "var"
    slack = FakeSlack().serve()
    env = bot_env(slack, "", tmp_path)  # no REDIS_URL: the bot starts its own server under var/
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    orphan = _server_pid(data)
    bot.process.send_signal(signal.SIGKILL)
    bot.process.wait(10)
    try:
        assert _alive(orphan), "the server outlives a SIGKILLed bot (the case this test is about)"
        result = subprocess.run(
            [sys.executable, "-m", "bot", "reflections", "export", "--team", "T0AAA", "--user", "U0AAA"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "adopted the embedded Redis" in result.stderr
        deadline = time.monotonic() + 2
        while _alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(orphan), "the orphaned redis-server is still running after the command exited"
    finally:
        slack.close()
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_live_owner_keeps_its_server_when_another_process_joins(tmp_path: Path) -> None:
    """`scr-bot schedule list` beside a running bot joins its server and must not stop it."""
    owner = EmbeddedRedis(tmp_path)
    url = owner.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "reflections", "export", "--team", "T0AAA", "--user", "U0AAA"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))},
                 "SCR_DATA_DIR": str(tmp_path)},
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "adopted" not in result.stderr
        assert redis.Redis.from_url(url).ping()
        assert owner.process.poll() is None
    finally:
        owner.stop()
