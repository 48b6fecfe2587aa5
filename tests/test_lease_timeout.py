"""A weekly claim's lease must outlast the longest one Slack call can take, HTTP timeout included (issue 21 item 3).

The call budget bounds waiting and retrying, but Slack may act on a request until slack-sdk's per-request
timeout (10 s), and a retry may start just before the budget runs out. With ``SCR_CALL_BUDGET_MS=3000`` and
``SCR_CLAIM_LEASE_SECONDS=4`` (accepted before) a Slack that posts after 8 s let a second clock take the
lapsed claim and post the same week again. Real processes (``python -m bot schedule run-due``), real Redis.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from test_weekly_processes import MONDAY_0930, posts, spawn

from conftest import bot_env
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow

SLACK_ACTS_AFTER = 8.0  # within slack-sdk's 10 s timeout


@pytest.mark.parametrize("variable", ["SCR_CLAIM_LEASE_SECONDS", "SCR_PENDING_GRACE_S"])
def test_a_lease_shorter_than_budget_plus_http_timeout_stops_start_up_in_one_line(
        tmp_path: Path, slack: FakeSlack, redis_server, variable: str) -> None:  # noqa: ANN001  # fmt: skip
    env = bot_env(slack, redis_server.url, tmp_path, SCR_CALL_BUDGET_MS="3000",
                  **{"SCR_CLAIM_LEASE_SECONDS": "18", "SCR_PENDING_GRACE_S": "18", variable: "4"})  # fmt: skip
    proc = spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat())
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{variable}=4 is too short" in lines[0] and "timeout" in lines[0] and "10 s" in lines[0], out
    assert "use at least 18" in lines[0], out
    assert slack.calls_to("chat.postMessage") == []


def test_two_clocks_with_the_shortest_accepted_lease_post_once_when_slack_acts_late(
        tmp_path: Path, slack: FakeSlack, redis_server) -> None:  # noqa: ANN001  # fmt: skip
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "ward.yaml").write_text('schedules:\n  - id: ward-7\n    channel: C0WARD7\n'
                                         '    when: {day: monday, time: "09:30"}\n    sectors: [health]\n')  # fmt: skip
    env = bot_env(slack, redis_server.url, tmp_path, SCR_SCHEDULES_DIR=str(schedules), SCR_CALL_BUDGET_MS="3000",
                  SCR_CLAIM_LEASE_SECONDS="18")  # fmt: skip
    slack.delay["chat.postMessage"] = SLACK_ACTS_AFTER
    first = spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat())
    time.sleep(5.0)  # past the 4 s lease the old rule accepted; another clock comes along
    second = spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat())
    outs = [p.communicate(timeout=90)[0] for p in (first, second)]
    assert len(posts(slack)) == 1, outs
    assert all(isinstance(p, subprocess.Popen) and p.returncode == 0 for p in (first, second)), outs
