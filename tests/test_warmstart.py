"""The suite's warm starts (tests/warmstart.py) must behave as the cold ``python -m bot`` they stand in for:
the same output, exit codes and streams, a real process a test can kill, the environment it was given."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import warmstart

from conftest import ROOT, RedisServer

BOT = [sys.executable, "-m", "bot"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_", "PYTHON"))}
    return {**env, **extra}


def _both(args: list[str], **kwargs: object) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    cold = subprocess.run([*BOT, *args], capture_output=True, text=True, cwd=ROOT, timeout=60, **kwargs)  # type: ignore[call-overload]
    warm = warmstart.run([*BOT, *args], capture_output=True, text=True, cwd=ROOT, timeout=60, **kwargs)
    return cold, warm


@pytest.mark.parametrize("args", [["ask", "--json", "neglect"], ["nosuch"], ["ask"], ["--help"]])
def test_a_warm_start_answers_exactly_as_a_cold_one(args: list[str], tmp_path: object) -> None:
    cold, warm = _both(args, env=_env(SCR_DATA_DIR=str(tmp_path)))
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_the_environment_is_the_one_given_not_the_zygotes(tmp_path: object) -> None:
    """A setting the bot reads at start-up (here a misconfiguration) comes from the env the test passed."""
    cold, warm = _both(["schedule", "list"], env=_env(SCR_DATA_DIR=str(tmp_path), REDIS_URL="not-a-url"))
    assert cold.returncode != 0
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_standard_input_reaches_the_shell_and_the_exit_code_comes_back(tmp_path: object) -> None:
    done = warmstart.run([*BOT, "shell"], input="ask police\nquit\n", capture_output=True, text=True, cwd=ROOT,
                         env=_env(SCR_DATA_DIR=str(tmp_path)), timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Police" in done.stdout and "Bye." in done.stdout


def test_a_warm_started_bot_is_a_real_process_that_a_kill_ends(tmp_path: object, redis_server: RedisServer) -> None:
    """(On the suite's Redis: a shell on its embedded one would leave that server running after the kill.)"""
    proc = warmstart.Popen([*BOT, "shell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           cwd=ROOT, env=_env(SCR_DATA_DIR=str(tmp_path), REDIS_URL=redis_server.url))  # fmt: skip
    try:
        assert proc.pid != os.getpid()
        os.kill(proc.pid, 0)  # it exists, under the pid the test holds
        time.sleep(0.2)
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
