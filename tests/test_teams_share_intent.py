"""A reflection shared from the Teams Reflect dialog survives the web process being killed before it is posted.

The dialog's Save is answered before the reflection is posted in the weekly post's thread (a worker posts it after
the answer). The intent is written with the reflection before the answer, and the clock (``scr-bot schedule
run-due``) finishes it after ``SCR_PENDING_GRACE_S``: it looks for the reply by its marker first (the process may
have been killed after Teams posted it), posts it once through ``bot.once`` if it is not there, and posts nothing
while Graph will not say.

Real processes (``scr-bot run`` under gunicorn, SIGKILLed; ``scr-bot schedule run-due``), a real Redis, Teams faked
at its HTTP boundary (tests/fake_teams.py) holding the thread reply unanswered while the bot is killed, every
activity signed as the Bot Connector signs it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import warmstart
from test_share_intent import grace_over, kill_web
from test_teams_more import APP_ID, TENANT, WS, next_monday_morning, weekly_post

from bot.reflections.store import ReflectionStore
from bot.storage import keys
from conftest import ROOT, BotProcess, bot_env, free_port, start_bot, wait_for
from fake_teams import FakeTeams
from fakeslack import FakeSlack
from teams_helpers import invoked

pytestmark = [pytest.mark.slow]

GRACE = 5  # seconds: at least 4/3 of (the call budget + one request's timeout), as the settings demand: 4/3 x (0.75 + 3)
USER, NAME = "29:teams-share-intent", "Sam <b>Sharer</b>"


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    fake = FakeTeams(APP_ID, "fake-app-password-789", TENANT).serve()
    yield fake
    fake.release.set()
    fake.close()


@pytest.fixture
def web(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any,
        tmp_path: Path) -> Iterator[tuple[BotProcess, dict[str, str]]]:  # fmt: skip
    port = free_port()
    env = bot_env(module_slack, redis_server.url, tmp_path, **teams.env(), TEAMS_PUBLIC_URL=f"http://127.0.0.1:{port}",
                  SCR_CALL_BUDGET_MS="750", SCR_HTTP_TIMEOUT_S="3", SCR_CLAIM_LEASE_SECONDS=str(GRACE),
                  SCR_PENDING_GRACE_S=str(GRACE))  # fmt: skip
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "web.log", port)
    yield bot, env
    if bot.process.poll() is None:
        bot.process.kill()
        bot.process.wait()


def clock(env: dict[str, str]) -> str:
    """The clock's sweep, once, as its own process (at the weekly post's time: only the shares are left to do)."""
    done = warmstart.run([sys.executable, "-m", "bot", "schedule", "run-due", "--now", next_monday_morning().isoformat()],
                          env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.stdout + done.stderr


def shared_replies(teams: FakeTeams, root: str) -> list[dict[str, Any]]:
    """The shared reflections Teams took in the thread (a post it acted on, answered or not)."""
    return [a for a in teams.replies_to(root)
            if ((a.get("channelData") or {}).get("scr") or {}).get("kind") == "shared_reflection"]  # fmt: skip


@pytest.mark.parametrize("case", ["before_posting", "after_posting", "before_posting_graph_refuses",
                                  "after_posting_then_left", "before_posting_roster_blip"])
def test_a_dialog_share_whose_web_process_is_killed_is_posted_once_by_the_clock(
        web: tuple[BotProcess, dict[str, str]], teams: FakeTeams, shared_redis: redis.Redis, case: str) -> None:  # fmt: skip
    """Teams holds the thread reply unanswered and the web process is SIGKILLed meanwhile: Teams never took the
    post (``before_posting``), or took it and the answer was lost with the process (``after_posting``). The clock
    posts it once in the first case and finds it (by its marker, through Graph) in the second: one reply either way,
    recorded on the reflection, its intent gone. When Graph refuses to show the thread, the clock posts nothing
    (it may be there) until Graph answers. On the old code nothing was left to finish it: no post, or no record."""
    bot, env = web
    channel = f"19:share-intent-{case}@thread.tacv2"
    post = weekly_post(bot, teams, env, shared_redis, channel)
    root = post["id"]
    teams.members[channel] = {USER}
    (reflect,) = post["activity"]["attachments"][0]["content"]["actions"]
    in_thread = {"id": f"{channel};messageid={root}", "conversationType": "channel", "isGroup": True}
    opened = invoked(bot, teams, teams.task("task/fetch", reflect["data"], in_thread, user=USER, reply_to=root))
    (button,) = opened["task"]["value"]["card"]["content"]["actions"]

    teams.hold_replies, teams.hold_after_posting = 1, case.startswith("after_posting")
    save = teams.task("task/submit", {**button["data"], "stood_out": "Curiosity about the household", "visibility": "thread"},
                      in_thread, user=USER)  # fmt: skip
    save["from"]["name"] = NAME
    assert "sharing it in the thread" in str(invoked(bot, teams, save)["task"]["value"])
    assert teams.held.wait(20), "the worker never tried to post the share"
    kill_web(bot)  # while Teams holds the reply: the worker dies without an answer
    teams.release.set()
    posted_by_web = len(shared_replies(teams, root))
    assert posted_by_web == (1 if case.startswith("after_posting") else 0)

    (refl,) = ReflectionStore(shared_redis, 365).for_user(WS, USER)
    assert refl.shared and not refl.message_ts
    assert shared_redis.zscore(keys.shares_pending(WS), refl.id) is not None  # the intent, written before the answer

    if case == "before_posting_graph_refuses":
        teams.graph_refuse = True
        grace_over(shared_redis, refl.id, WS, GRACE)
        out = clock(env)
        assert not shared_replies(teams, root), out  # it may be there: nothing posted blindly
        assert shared_redis.zscore(keys.shares_pending(WS), refl.id) is not None, out  # still to do
        teams.graph_refuse = False

    if case == "after_posting_then_left":
        teams.members[channel] = set()  # they left the team after Teams posted their words
    if case == "before_posting_roster_blip":
        teams.fail_members = 1  # the clock's first membership read fails: not known, so nothing is decided
        grace_over(shared_redis, refl.id, WS, GRACE)
        out = clock(env)
        assert not shared_replies(teams, root), out
        assert shared_redis.zscore(keys.shares_pending(WS), refl.id) is not None, out  # still to do
        assert not told_private(teams), out  # and nobody told it was kept private

    outs: list[str] = []
    grace_over(shared_redis, refl.id, WS, GRACE)  # no sweep could take it before

    def finished() -> bool:  # sweeps until one finds the web process's claims lapsed (the grace, the lease)
        outs.append(clock(env))
        stored = ReflectionStore(shared_redis, 365).get(WS, refl.id)
        return bool(stored and stored.message_ts) or bool(time.sleep(1))

    try:
        wait_for(finished, timeout=90)
    except AssertionError:
        raise AssertionError("the clock never finished the share:\n" + "\n".join(outs[-3:])) from None
    (reply,) = shared_replies(teams, root)  # exactly once
    stored = ReflectionStore(shared_redis, 365).get(WS, refl.id)
    assert stored is not None and stored.shared
    assert stored.message_ts == next(s["id"] for s in teams.sent if s["activity"] is reply)
    assert shared_redis.zscore(keys.shares_pending(WS), refl.id) is None  # settled: the intent is gone
    assert not shared_redis.exists(keys.share_search(WS, refl.id))  # with the author's name kept for the clock
    body = json.dumps(reply["attachments"][0]["content"]["body"])
    assert "Curiosity about the household" in body and "Sam \\\\<b\\\\>Sharer" in body  # the name the dialog gave
    clock(env)  # a later sweep finds nothing to do
    assert len(shared_replies(teams, root)) == 1
    # Their words are in the thread (even for the person who has left since): never told they were kept private.
    assert not told_private(teams)


def told_private(teams: FakeTeams) -> list[dict[str, Any]]:
    """Notes sent to a personal chat saying a share was kept private."""
    return [s for s in teams.sent if s["conversation"].startswith("a:") and "private" in str(s["activity"].get("text"))]
