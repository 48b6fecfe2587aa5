"""Warm starts for the bot's processes in tests: ``python -m bot ...`` forked from an interpreter that has
already imported the bot's libraries, instead of a cold interpreter importing them all again.

Why: the suite starts the bot ~570 times (``scr-bot run``, ``schedule run-due``, ``content check``, ...), and a
cold start spends most of its CPU importing redis, slack_sdk, Bolt, gunicorn, cryptography, APScheduler and the
bot's own modules (~0.5-0.8 s each on the 2-core machine). On a CPU-bound suite that was a third of its time.

What stays real: every start is still its own operating-system process running the real ``bot/__main__.py`` with
the test's argv, environment, working directory and standard streams; it listens on real ports, talks to the
real Redis, and a test can SIGTERM or SIGKILL it by pid mid-step. Only the interpreter's start-up is shared,
as gunicorn's ``preload_app`` and the ``forkserver`` start method do.

How: one *zygote* per test run (started by pytest's controller and shared by its workers through
``SCR_TEST_ZYGOTE``, or by a run without workers on first use; ended with the process that started it) imports the libraries and waits on a
Unix socket. ``Popen`` below (a ``subprocess.Popen``: same arguments, same ``wait``/``poll``/``communicate``/
``kill``) hands the zygote the argv, environment, working directory and the three stream file descriptors
(``SCM_RIGHTS``). The zygote forks a *waiter*, which forks the bot process and reports first its pid and later
its wait status on the socket; ``Popen`` turns those into ``pid`` and ``returncode``.

What the zygote must not import: ``prometheus_client`` (it chooses its multiprocess mode from the environment at
import, and the bot chooses that folder at start-up: ``bot/ops/metricsdir.py``; ``bot.metrics`` imports it only
when the first metric is made). The zygote checks this after preloading and refuses (cold starts, with a
warning) otherwise.

``SCR_TEST_COLD=1`` makes every start a cold ``python -m bot`` again (CI runs a few files that way).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import inspect
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BOT = [sys.executable, "-m", "bot"]

# Libraries every bot process imports (measured with `python -X importtime -m bot ...`); then every module of the
# bot itself (``_bot_modules``). None of them imports prometheus_client (see the module docstring).
PRELOAD = (
    "redis", "redis.cluster", "redis.asyncio", "yaml", "slack_sdk", "slack_sdk.web", "slack_sdk.oauth",
    "slack_sdk.models.blocks", "slack_bolt", "slack_bolt.adapter.flask", "flask", "werkzeug", "gunicorn.app.base",
    "gunicorn.arbiter", "gunicorn.workers.gthread", "cryptography.hazmat.primitives.ciphers.aead", "apscheduler",
    "apscheduler.schedulers.background", "apscheduler.triggers.cron", "pydantic", "rapidfuzz", "holidays",
    "Stemmer", "jwt", "requests", "email.mime.multipart",
    # Imported by the bot only when it draws a digest's chart or writes a handout (~0.8 s each, cold):
    "matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "fpdf", "fpdf.fonts",
)  # fmt: skip


def _bot_modules() -> list[str]:
    import pkgutil

    import bot

    return [m.name for m in pkgutil.walk_packages(bot.__path__, "bot.") if m.name != "bot.__main__"]


cpu_seconds = 0.0  # CPU used by the warm-started processes that have ended (for measuring the suite)


def _cold() -> bool:
    return os.environ.get("SCR_TEST_COLD", "") not in ("", "0")


# ----- the zygote (its own process) -----------------------------------------------------------------------------
def _serve(path: str) -> None:
    """Preload, then fork a waiter per request until our parent (the pytest process that started us) closes our stdin."""
    loaded = []
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy (under matplotlib): no thread pool in a forking process
    for name in (*PRELOAD, *_bot_modules()):
        try:
            __import__(name)
            loaded.append(name)
        except Exception:  # noqa: BLE001 - an optional library missing: the bot imports it itself, cold
            pass
    with contextlib.suppress(Exception):  # what every command builds first, before it reads its environment
        sys.modules["bot.ops.cli"].build_parser()
    gc.freeze()  # what was preloaded is never collected: the forks' collections skip it (and leave its pages shared)
    if "prometheus_client" in sys.modules:
        print("refused: prometheus_client was imported while preloading", flush=True)
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".binding")
    listener.listen(64)
    os.rename(path + ".binding", path)  # the address appears only once it accepts: workers wait for it (``_shared``)
    print("ready", len(loaded), flush=True)
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [], 1.0)
        _reap()
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1):
            return  # the pytest process is gone
        if listener in ready:
            conn, _ = listener.accept()
            try:
                header, fds = _receive(conn)
            except (OSError, ValueError):
                conn.close()
                continue
            if os.fork() == 0:
                listener.close()
                _wait_for(conn, header, fds)  # never returns
            conn.close()
            for fd in fds:
                os.close(fd)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            raise ValueError("short request")
        data += more
    return json.loads(data), list(fds)


def _wait_for(conn: socket.socket, header: dict[str, Any], fds: list[int]) -> None:
    """The waiter: fork the bot process, tell the client its pid, then its wait status."""
    code = 1
    try:
        pid = os.fork()
        if pid == 0:
            conn.close()
            _become_bot(header, fds)  # never returns
        for fd in fds:
            os.close(fd)
        conn.sendall(f"P {pid}\n".encode())
        _, status, usage = os.wait4(pid, 0)
        conn.sendall(f"S {status} {usage.ru_utime + usage.ru_stime:.3f}\n".encode())
        code = 0
    except BaseException:  # noqa: BLE001 - the client sees the socket close and reports the process lost
        traceback.print_exc()
    finally:
        os._exit(code)


def _become_bot(header: dict[str, Any], fds: list[int]) -> None:
    """Turn this fork into ``python -m bot <argv>``: its streams, environment, directory, then the real
    ``bot/__main__.py``; exit as the interpreter would (threads joined, atexit run, streams flushed)."""
    code: int = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds):
            if fd > 2:
                os.close(fd)
        os.chdir(header["cwd"])
        os.environ.clear()
        os.environ.update(header["env"])
        time.tzset()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        tempfile.tempdir = None
        _fresh_streams(unbuffered=bool(os.environ.get("PYTHONUNBUFFERED")))
        sys.path[0] = os.getcwd()  # as `python -m` puts the working directory first
        sys.argv = ["-m", *header["argv"]]
        import runpy

        try:
            runpy.run_module("bot", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = _exit_code(stop.code)
        except KeyboardInterrupt:
            traceback.print_exc()
            code = 130
        except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught exception
            sys.excepthook(*sys.exc_info())
            code = 1
        threading._shutdown()  # type: ignore[attr-defined] - the interpreter joins non-daemon threads first
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed pipe: nothing more can be said
                stream.flush()
        os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _fresh_streams(*, unbuffered: bool) -> None:
    """New sys.stdin/stdout/stderr over fds 0-2, buffered as a cold interpreter would buffer them."""
    encoding, errors = sys.stdout.encoding, sys.stdout.errors

    def writer(fd: int, *, line: bool, errors: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "w", closefd=False)
        if unbuffered:
            return io.TextIOWrapper(raw, encoding=encoding, errors=errors, write_through=True)  # type: ignore[arg-type]
        return io.TextIOWrapper(io.BufferedWriter(raw), encoding=encoding, errors=errors, line_buffering=line)

    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding=encoding, errors=errors)  # fmt: skip
    sys.stdout = sys.__stdout__ = writer(1, line=os.isatty(1), errors=errors)
    sys.stderr = sys.__stderr__ = writer(2, line=True, errors="backslashreplace")  # as the interpreter's own


# ----- the client (inside the pytest process) ---------------------------------------------------------------------
class _Zygote:
    """The zygote this pytest process uses: its own, started on first use, or the controller's (``share``)."""

    lock = threading.Lock()
    process: subprocess.Popen[bytes] | None = None
    folder: Path | None = None
    path: str | None = None
    broken = False

    @classmethod
    def address(cls) -> str | None:
        with cls.lock:
            if cls.broken:
                return None
            shared = os.environ.get(SHARED, "")
            if shared and cls.process is None:  # an xdist worker: the controller's zygote (``share``)
                return cls._shared(shared)
            if cls.process is None or cls.process.poll() is not None:
                cls._start()
                line = cls.process.stdout.readline().decode() if cls.process and cls.process.stdout else ""
                if not line.startswith("ready"):
                    warnings.warn(f"warm starts off: the zygote said {line.strip()!r}; starting the bot cold",
                                  stacklevel=3)  # fmt: skip
                    cls.broken = True
                    return None
            return cls.path

    @classmethod
    def _start(cls) -> str:
        """Start a zygote; it listens on the returned path once it has preloaded (``_serve``)."""
        # A folder of our own (a socket's path is short: not pytest's deep tmp_path), holding its log too.
        cls.folder = Path(tempfile.mkdtemp(prefix="scr-zygote-", dir="/tmp"))
        cls.path = str(cls.folder / "zygote.sock")
        with open(cls.folder / "zygote.log", "wb") as log:
            cls.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), cls.path],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                           cwd=str(ROOT))  # fmt: skip
        atexit.register(cls.close)
        return cls.path

    @classmethod
    def _shared(cls, path: str) -> str | None:
        """The controller's zygote, once it listens (it preloads while the workers collect their tests); cold
        starts, with one warning, if it refused or is gone."""
        deadline = time.monotonic() + 120
        while not os.path.exists(path):
            if os.path.exists(path + REFUSED) or not os.path.isdir(os.path.dirname(path)) or time.monotonic() > deadline:
                cls.broken = True
                warnings.warn(f"warm starts off: the shared zygote {path} is not listening; starting the bot cold",
                              stacklevel=4)  # fmt: skip
                return None
            time.sleep(0.05)
        return path

    @classmethod
    def close(cls) -> None:
        if cls.process is not None and cls.process.poll() is None:
            assert cls.process.stdin is not None
            cls.process.stdin.close()
            try:
                cls.process.wait(5)
            except subprocess.TimeoutExpired:
                cls.process.kill()
        if cls.folder is not None:
            shutil.rmtree(cls.folder, ignore_errors=True)


SHARED = "SCR_TEST_ZYGOTE"
REFUSED = ".refused"  # beside the socket's path: the zygote will not listen


def share() -> None:
    """Start the zygote from this process (pytest's controller) and leave its address for the workers it starts,
    so the libraries and the bot's modules are imported once per run, not once per worker. Not waited for here:
    it preloads while the workers start and collect."""
    if not _cold():
        with _Zygote.lock:
            os.environ[SHARED] = _Zygote._start()


_PARAMETERS = list(inspect.signature(subprocess.Popen._execute_child).parameters)[1:]  # type: ignore[attr-defined]


class Popen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen`` for ``[sys.executable, "-m", "bot", ...]``, warm-started (see the module docstring);
    any other command, or ``SCR_TEST_COLD=1``, or a zygote that cannot start, is an ordinary cold start."""

    _control: socket.socket | None = None
    _answer = b""

    def _execute_child(self, *args: Any) -> None:  # noqa: D401 - subprocess's own hook
        given = dict(zip(_PARAMETERS, args, strict=True))
        argv = list(given["args"])
        address = None if _cold() or argv[:3] != BOT or given["shell"] or given["pass_fds"] else _Zygote.address()
        if address is None:
            super()._execute_child(*args)
            return
        ours = [given["p2cread"], given["c2pwrite"], given["errwrite"]]
        fds = [fd if fd != -1 else default for fd, default in zip(ours, (0, 1, 2), strict=True)]
        env = dict(os.environ if given["env"] is None else given["env"])
        cwd = os.fspath(given["cwd"]) if given["cwd"] is not None else os.getcwd()
        header = json.dumps({"argv": argv[3:], "env": env, "cwd": cwd}).encode() + b"\n"
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control.connect(address)
        socket.send_fds(control, [header], fds)
        self._control = control
        self.pid = int(self._line(block=True)[2:])
        self._child_created = True
        self._close_pipe_fds(given["p2cread"], given["p2cwrite"], given["c2pread"], given["c2pwrite"],
                             given["errread"], given["errwrite"])  # fmt: skip

    def _line(self, *, block: bool) -> str | None:
        """The waiter's next line; None when it is not there yet and ``block`` is False (``Popen._wait`` polls
        with a timeout of its own)."""
        assert self._control is not None
        while b"\n" not in self._answer:
            ready, _, _ = select.select([self._control], [], [], None if block else 0.0)
            if not ready:
                return None
            chunk = self._control.recv(4096)
            if not chunk:  # the waiter died without a status: report the process as lost
                self._answer += b"S -1\n"
                break
            self._answer += chunk
        line, _, self._answer = self._answer.partition(b"\n")
        return line.decode()

    def _status(self, line: str) -> tuple[int, int]:
        global cpu_seconds
        word, _, used = line[2:].partition(" ")
        cpu_seconds += float(used or 0)  # the bot process's and its children's, as wait4 reported them
        if os.environ.get("SCR_TEST_WARM_LOG"):  # which starts cost what (for measuring the suite)
            with open(os.environ["SCR_TEST_WARM_LOG"], "a") as log:
                log.write(f"{float(used or 0):.3f}\t{os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0]}\t"
                          f"{' '.join(self.args[3:])[:60]}\n")  # fmt: skip
        status = int(word)
        if status == -1:
            return self.pid, 255 << 8  # lost: report it as exit code 255
        return self.pid, status

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        if self._control is None:
            return super()._try_wait(wait_flags)
        line = self._line(block=not wait_flags & os.WNOHANG)
        return (0, 0) if line is None else self._status(line)

    def _internal_poll(self, _deadstate: int | None = None, **_: Any) -> int | None:
        if self._control is None:
            return super()._internal_poll(_deadstate)
        if self.returncode is None and self._waitpid_lock.acquire(False):
            try:
                if self.returncode is None:
                    line = self._line(block=False)
                    if line is not None:
                        self._handle_exitstatus(self._status(line)[1])
            except OSError:
                if _deadstate is not None:
                    self.returncode = _deadstate
            finally:
                self._waitpid_lock.release()
        return self.returncode


def run(args: list[str], *, input: Any = None, capture_output: bool = False, timeout: float | None = None,  # noqa: A002
        check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[Any]:  # fmt: skip
    """``subprocess.run`` with the warm ``Popen``."""
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with Popen(args, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        except BaseException:
            process.kill()
            raise
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        done.check_returncode()
    return done


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in pytest's terminal is pytest's to handle
    sys.path[0] = str(ROOT)  # the checkout's `bot`, as `python -m bot` run from it imports (not tests/)
    try:
        _serve(sys.argv[1])
    finally:
        if not os.path.exists(sys.argv[1]):  # refused or failed before listening: workers waiting start cold at once
            Path(sys.argv[1] + REFUSED).touch()
