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


def test_a_shorter_http_timeout_allows_a_shorter_lease_and_is_named_when_the_lease_is_too_short(
        tmp_path: Path, slack: FakeSlack, redis_server) -> None:  # noqa: ANN001  # fmt: skip
    """SCR_HTTP_TIMEOUT_S is part of the rule: budget 1 s + timeout 2 s needs ceil(3 x 4/3) = 4 s."""
    env = bot_env(slack, redis_server.url, tmp_path, SCR_CALL_BUDGET_MS="1000", SCR_HTTP_TIMEOUT_S="2",
                  SCR_CLAIM_LEASE_SECONDS="3", SCR_PENDING_GRACE_S="4")  # fmt: skip
    proc = spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat())
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "SCR_CLAIM_LEASE_SECONDS=3 is too short" in out and "timeout (2 s)" in out, out
    assert "use at least 4" in out, out


@pytest.mark.parametrize(("budget_ms", "timeout_s", "lease_s", "acts_after", "second_after"),
                         [("3000", None, "18", SLACK_ACTS_AFTER, 5.0), ("1000", "2", "4", 1.8, 2.5)],
                         ids=["default timeout", "SCR_HTTP_TIMEOUT_S=2"])  # fmt: skip
def test_two_clocks_with_the_shortest_accepted_lease_post_once_when_slack_acts_late(
        tmp_path: Path, slack: FakeSlack, redis_server, budget_ms: str, timeout_s: str | None,  # noqa: ANN001
        lease_s: str, acts_after: float, second_after: float) -> None:  # fmt: skip
    """Slack acts just inside the request timeout; a second clock comes after the lease the old rule (budget
    alone) would have accepted: still one post."""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    ward = f"ward-{lease_s}"  # its own week to claim: the session's Redis keeps the other case's
    channel = f"C0WARD{lease_s}"
    (schedules / "ward.yaml").write_text(f'schedules:\n  - id: {ward}\n    channel: {channel}\n'
                                         '    when: {day: monday, time: "09:30"}\n    sectors: [health]\n')  # fmt: skip
    env = bot_env(slack, redis_server.url, tmp_path, SCR_SCHEDULES_DIR=str(schedules), SCR_CALL_BUDGET_MS=budget_ms,
                  SCR_CLAIM_LEASE_SECONDS=lease_s, **({"SCR_HTTP_TIMEOUT_S": timeout_s} if timeout_s else {}))  # fmt: skip
    slack.delay["chat.postMessage"] = acts_after
    first = spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat())
    time.sleep(second_after)  # past the lease the old rule (budget alone) accepted; another clock comes along
    second = spawn(env, "schedule", "run-due", "--now", MONDAY_0930.isoformat())
    outs = [p.communicate(timeout=90)[0] for p in (first, second)]
    assert len(posts(slack, channel)) == 1, outs
    assert all(isinstance(p, subprocess.Popen) and p.returncode == 0 for p in (first, second)), outs
