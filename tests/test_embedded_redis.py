"""The embedded Redis server's life cycle: a fast, clean stop, and no server left behind after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
import warmstart

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
        result = warmstart.run(
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
        result = warmstart.run(
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


class ShellProcess:
    """`scr-bot shell` as a person runs it: lines typed on its standard input, its screen in a file."""

    def __init__(self, data_dir: Path, screen: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
        env.update(SCR_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
        self.screen = screen
        self.handle = screen.open("w")
        self.process = warmstart.Popen([sys.executable, "-m", "bot", "shell"], env=env, cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=self.handle, stderr=subprocess.STDOUT)  # fmt: skip

    def type(self, line: str, then: str, timeout: float = 30) -> str:
        """Type one line and wait until the screen shows ``then`` after it."""
        start = len(self.screen.read_text())
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while then not in self.screen.read_text()[start:]:
            assert self.process.poll() is None, self.screen.read_text()
            assert time.monotonic() < deadline, f"no {then!r} after {line!r}:\n{self.screen.read_text()[start:]}"
            time.sleep(0.05)
        return self.screen.read_text()[start:]

    def quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
        self.handle.close()


def test_two_shells_on_one_data_dir_keep_their_storage_until_the_last_one_leaves(tmp_path: Path) -> None:
    """Two people open the shell on one SCR_DATA_DIR: the first to quit used to stop the embedded Redis, and
    the second lost its storage for good. The last one out stops it."""
    data = tmp_path / "var"
    first = ShellProcess(data, tmp_path / "first.txt")
    second = None
    server = 0
    try:
        first.type("/scr subscribe", then="set up a weekly learning point")
        server = _server_pid(data)
        second = ShellProcess(data, tmp_path / "second.txt")
        second.type("who", then="In #team")
        first.quit()
        assert first.process.returncode == 0, first.screen.read_text()
        assert _alive(server), "the embedded Redis stopped while another shell was still using it"
        posted = second.type("post", then="you in #team>")
        assert "LEARNING POINT OF THE WEEK" in posted, posted  # the first shell's subscription is still there
        second.quit()
        assert second.process.returncode == 0, second.screen.read_text()
        assert "Traceback" not in second.screen.read_text()
        deadline = time.monotonic() + 5
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(server), "the last shell to leave did not stop the embedded Redis"
    finally:
        for shell in (first, second):
            if shell is not None and shell.process.poll() is None:
                shell.process.kill()
        if server and _alive(server):
            os.kill(server, signal.SIGKILL)
